import { defaultClientConditions, defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Cross-origin isolation: onnxruntime-web's wasm threads need SharedArrayBuffer.
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  // Relative base: the built app works from any sub-path (packs are fetched relative to the page).
  base: './',
  plugins: [react()],
  worker: { format: 'es' },
  // Pick onnxruntime-web's build that loads its wasm glue (.mjs) as a separate file. The default
  // build inlines the glue, so its pthread workers would re-run our whole worker chunk.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  // Pre-bundling rewrites import.meta.url, which onnxruntime-web uses to find its .wasm in dev.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  build: { target: 'es2022', chunkSizeWarningLimit: 1024 },
});
