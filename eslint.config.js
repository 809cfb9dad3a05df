// ESLint for `npm run lint` (issue 9, item 4): the recommended rules, with
// typescript-eslint's type-checked set over the TypeScript sources. Run by
// scripts/test.js with --max-warnings=0, so a warning fails `npm test` too.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The Node globals the plain .js scripts use (no `globals` package: these few
// are all there is; the TypeScript files get theirs from @types/node).
const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  module: 'writable',
  require: 'readonly',
  URL: 'readonly',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'demo-data/', '.tmp/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits;
      // `void` in front of each of hundreds of calls would only be noise.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
