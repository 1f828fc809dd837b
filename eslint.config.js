// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn'] }],
    },
  },
  {
    // Scripts and benchmarks print their results.
    files: ['scripts/**/*.mjs', 'bench/**/*.mjs'],
    languageOptions: { globals: { performance: 'readonly' } },
    rules: { 'no-console': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // The core returns data or throws; only the CLI entry point sets the exit status.
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Return an exit status instead (src/cli/exit-codes.ts).' },
      ],
    },
  },
);
