// Lint rules that guard the project's shape: no import cycles, no floating
// promises, and the one-way dependency rule from DESIGN.md (policy imports
// nothing of ours; agent and control plane never import each other).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'coverage/**',
      'schemas/**',
      'dist/**',
      'services/proto/**',
      'services/control-plane/store/generated/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['services/policy/**'],
    ignores: ['services/policy/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/agent/**', '**/control-plane/**', '**/cli/**', '**/web/**'],
              message: 'services/policy is the shared core; it imports no other part.',
            },
            {
              group: [
                'node:fs',
                'node:fs/*',
                'node:net',
                'node:child_process',
                'fs',
                'net',
                'child_process',
              ],
              message: 'services/policy does no I/O.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['services/agent/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/control-plane/**', '**/cli/**'],
              message:
                'the agent shares only services/policy and services/proto with the control plane.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['services/control-plane/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/agent/**', '**/cli/**'],
              message:
                'the control plane shares only services/policy and services/proto with the agent.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bin/*.js', 'eslint.config.js', 'test/fixtures/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
