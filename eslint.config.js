// The linter: ESLint's and typescript-eslint's recommended rules, without type information (a
// type-aware run costs a full compile; `tsc` already runs strict before every test). `npm run
// lint`; part of `npm test`. Rules switched off below each say why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/out/**', '.venv*/**', 'fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', Response: 'readonly', Request: 'readonly', Headers: 'readonly' },
    },
    rules: {
      // Matching control characters is the point wherever this code sanitises hostile names,
      // headers and terminal output.
      'no-control-regex': 'off',
      // `let x = fallback; try { x = ... } catch { ... }` keeps the fallback next to the binding.
      'no-useless-assignment': 'off',
      // Object-literal contexts whose methods close over their creator name it `self`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      // Unused bindings prefixed with _ are deliberate (callbacks' fixed parameters).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The bin is CommonJS (bin/package.json): Node starts a CommonJS main without its ES module loader.
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
