import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
// Modules that do I/O or talk to services: never in the pure core or in workflow code.
const ioModules = ['pino', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@aws-sdk/*', '@kubernetes/*'];
const ioFolders = ['**/activities/*', '**/store/*', '**/bpf/driver/*', '**/embedded/*', '**/cli/*', '**/workers/*', '**/lib/*', '**/audit/tail*', '**/k8s/*'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'bpf/build/**', 'charts/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Workflow code is replayed: it must be deterministic. No Node built-ins, no I/O, no clocks of
    // the host (Temporal's sandbox provides deterministic Date and Math.random).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code must be deterministic: no Node built-ins' })),
          patterns: [{ group: [...ioModules, ...ioFolders], allowTypeImports: true, message: 'workflow code must not do I/O; call an activity' }],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'require', 'fetch', 'setInterval', 'setImmediate', 'performance'],
    },
  },
  {
    // The pure core: model, merge, generalisation, generators, advisor. No I/O.
    files: ['core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'core is pure: no Node built-ins' })),
          patterns: [{ group: [...ioModules, ...ioFolders], allowTypeImports: true, message: 'core is pure: no I/O' }],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'require', 'fetch'],
    },
  },
);
