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
  { ignores: ['node_modules/', 'dist/', 'dist.next/', 'demo-data/', '.tmp/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `const { a: _a, ...rest } = o` is the idiom for a copy of o without a: the named key is meant to go unused.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
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
    // SqliteStore implements the async Store contract synchronously: `async` keeps its errors rejections, as any backend's are.
    files: ['src/store/sqlite.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Test stubs stand in for async interfaces (handlers, signers, stores): an `async` body keeps a stub's throw a rejection like the real one's.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
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
