// "Open checkpoint files": the released guided-diffusion .pt files, opened with the file input, dropped
// anywhere on the page or given by URL (./CheckpointUrls), become a pack built in the worker (recognised,
// filled, stored). Keyboard: the input is
// a native file input; the progress bar and the messages are announced.
import { useEffect, useId } from 'react';
import { formatBytes } from '../../shared/bytes';
import { describeImport } from '../../shared/importTimings';
import { useApp } from '../store/store';
import { CheckpointUrls } from './CheckpointUrls';

const RELEASES = 'https://github.com/openai/guided-diffusion#download-pre-trained-models';

/** Files dropped anywhere on the page go to `onFiles` (the browser would otherwise open them). */
function usePageDrop(onFiles: (files: File[]) => void): void {
  useEffect(() => {
    const over = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      onFiles(files);
    };
    window.addEventListener('dragover', over);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('drop', drop);
    };
  }, [onFiles]);
}

export function CheckpointImport({ onFiles, onUrls }: { onFiles: (files: File[]) => void; onUrls: (urls: string[]) => void }) {
  const id = useId();
  const status = useApp((s) => s.importStatus);
  const names = useApp((s) => s.importFiles);
  const recognised = useApp((s) => s.recognised);
  const progress = useApp((s) => s.importProgress);
  const error = useApp((s) => s.importError);
  const result = useApp((s) => s.importResult);
  usePageDrop(onFiles);
  return (
    <details className="checkpoint-import" open={status !== 'idle' || undefined}>
      <summary>Open the paper's checkpoints</summary>
      <div className="storage-body">
        <p className="hint">
          Open or drop the released <a href={RELEASES}>guided-diffusion</a> .pt files (a U-Net, optionally its classifier or an
          upsampler), or give their URLs: the pack is built here, and the weights never leave this computer.
        </p>
        <label htmlFor={id}>Checkpoint files</label>
        <input
          id={id}
          type="file"
          multiple
          accept=".pt,.pth"
          disabled={status === 'working'}
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])];
            if (files.length > 0) onFiles(files);
            e.currentTarget.value = ''; // the same files can be opened again
          }}
        />
        <CheckpointUrls onUrls={onUrls} disabled={status === 'working'} />
        {status === 'working' && (
          <div aria-live="polite" className="import-progress">
            {progress?.phase === 'download'
              ? `Downloading ${progress.file} (${formatBytes(progress.total)})`
              : recognised.length === 0 ? `Reading ${names.join(', ')}…` : `Building the pack: ${progress ? `${progress.phase} ${progress.file}` : 'starting'}`}
            {progress && (
              <>
                {' '}
                <progress max={progress.total} value={progress.loaded} aria-label="Checkpoint import progress" />{' '}
                {formatBytes(progress.loaded)} / {formatBytes(progress.total)}
              </>
            )}
          </div>
        )}
        {recognised.length > 0 && (
          <ul aria-label="Recognised checkpoints">
            {recognised.map((r) => (
              <li key={r.name}>{r.description}</li>
            ))}
          </ul>
        )}
        {status === 'error' && error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
        {status === 'done' && result && (
          <p className="hint" aria-label="Checkpoint import result">
            {result.title}: {describeImport(result.timings)}. It is in the pack picker and under Cached packs.
          </p>
        )}
      </div>
    </details>
  );
}
