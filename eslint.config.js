import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'oclif.manifest.json',
      'test-artifacts/',
      'templates/',
      'demo/',
      'scratch/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      // Regex groups and indexed reads under noUncheckedIndexedAccess: the `!` states a checked fact.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Records keyed by user names (secrets, JSON keys) are meant to lose keys.
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  {
    // Scripts and tests talk to the terminal directly.
    files: ['bin/**', 'scripts/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
)
