// Builds bench.html (the bare ORT loop of tools/bench.ts) next to an already built app:
//   vite build --outDir D && vite build -c vite.bench.config.ts --outDir D
// Same ORT resolution and worker format as vite.config.ts; never empties the output folder.
import { defineConfig, mergeConfig } from 'vite';
import appConfig from './vite.config.ts';

export default mergeConfig(appConfig, defineConfig({
  publicDir: false,
  build: { emptyOutDir: false, rollupOptions: { input: { bench: 'bench.html' } } },
}));
