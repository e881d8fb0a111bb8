// ESLint over every TypeScript realm (app, worker, tools, tests, e2e): typescript-eslint's
// recommended rules with type information off (tsc -b already checks types), React hooks rules for
// the UI, and the layers of the architecture (README, "What is where"). `npm run lint` runs this and
// pyflakes; `npm test` runs `npm run lint` as one suite.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// onnxruntime-web is the worker's business: nothing else may load it, statically or with import().
const ORT_WEB = 'onnxruntime-web';
const ortMessage = 'only src/worker talks to onnxruntime-web; the page reaches it through src/shared/protocol.ts';

export default tseslint.config(
  // *.gen.js: generated code (src/shared/manifestSchema.gen.js, tools/schema/compileManifestSchema.ts; a test holds it current).
  { ignores: ['dist/', 'node_modules/', 'test-results/', 'playwright-report/', 'public/', 'runs/', '**/*.gen.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx,js,mjs}'],
    languageOptions: { globals: { ...globals.browser, ...globals.worker, ...globals.node } },
    rules: {
      // `_`-prefixed names mark deliberately unused parameters (fakes, callbacks with fixed arity).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/ui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  // Layers: src/diffusion (pure math) <- src/shared (manifest, protocol) <- src/pipeline (the run
  // planner) <- src/worker <- src/ui; tools/ use the planner too, the UI does not need it.
  // Paths are resolved (a relative import that leaves a folder is caught however it is spelled).
  {
    files: ['src/**/*.{ts,tsx}', 'tools/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // import-x reads the imported files itself: it must know they are TypeScript and how to parse them.
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'] })],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', {
        zones: [
          {
            target: './src/diffusion', from: './', except: ['./src/diffusion'],
            message: 'src/diffusion is pure sampling math over typed arrays: it imports nothing outside itself',
          },
          {
            target: './src/pipeline', from: './', except: ['./src/pipeline', './src/diffusion', './src/shared'],
            message: 'src/pipeline plans runs from src/diffusion and src/shared alone (pure: no onnxruntime, no DOM)',
          },
          {
            target: ['./src/shared', './src/ui'], from: './src/pipeline',
            message: 'src/pipeline is the run planner of the worker and the CLI: src/shared is below it, and the UI sends requests (src/shared/protocol.ts)',
          },
          { target: './src/ui', from: './src/worker', message: 'the UI reaches the worker only through src/shared/protocol.ts' },
        ],
      }],
    },
  },
  {
    files: ['**/*.{ts,tsx,js,mjs}'],
    // Exceptions: the op-profile benchmark measures onnxruntime-web's own wasm EP in Node, and the
    // worker's GPU-feed test needs its tensor type.
    ignores: ['src/worker/**', 'tools/bench/ops.ts', 'tests/unit/app/gpuFeeds.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: ORT_WEB, message: ortMessage }] }],
      'no-restricted-syntax': ['error', { selector: `ImportExpression[source.value='${ORT_WEB}']`, message: ortMessage }],
    },
  },
);
