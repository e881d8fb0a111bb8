// Layout only: wiring lives in hooks, each panel in its own component.
import { CheckpointImport } from './components/CheckpointImport';
import { ControlsPanel } from './components/ControlsPanel';
import { Notices } from './components/Notices';
import { PackPicker } from './components/PackPicker';
import { StatusBar } from './components/StatusBar';
import { StoragePanel } from './components/StoragePanel';
import { ViewTabs } from './components/ViewTabs';
import { useDiffusionWorker } from './hooks/useDiffusionWorker';
import { usePackIndex, usePackLoader } from './hooks/usePacks';
import { useUrlMirror } from './hooks/useUrlMirror';

export function App() {
  const client = useDiffusionWorker();
  usePackIndex();
  usePackLoader(client);
  useUrlMirror();
  return (
    <div className="app">
      <header>
        <h1>Classifier-guided diffusion</h1>
        <p className="subtitle">
          ADM (Dhariwal &amp; Nichol, 2021) sampling in your browser: the U-Net denoises, a noisy-image classifier pulls
          each step toward the class.
        </p>
        <PackPicker />
        <CheckpointImport onFiles={client.importCheckpoints} onUrls={(urls) => client.importCheckpoints([], urls)} />
        <StoragePanel onRefresh={client.refreshStored} onDelete={client.deleteStored} />
      </header>
      <Notices />
      <main>
        <ControlsPanel onGenerate={client.generate} onStop={client.stop} />
        <section className="output" aria-label="Output">
          <StatusBar />
          <ViewTabs />
        </section>
      </main>
    </div>
  );
}
