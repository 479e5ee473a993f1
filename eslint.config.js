import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
// Modules that do I/O or talk to services: never in the pure core or in workflow code.
const ioModules = ['pino', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@aws-sdk/*', '@kubernetes/*'];

/**
 * The direction of every layer, bottom up: each folder imports only its own files and the folders
 * listed (`types`: type imports only, as the workflow names its activities' signatures). Nothing
 * below activities/ imports it; the edges (store/, bpf/driver/, audit/) know only the core.
 */
export const LAYERS = {
  core: { imports: [] },
  workflows: { imports: ['core'], types: ['activities'] },
  lib: { imports: ['core', 'workflows'] },
  store: { imports: ['core'] },
  'bpf/driver': { imports: ['core'] },
  audit: { imports: ['core'] },
  k8s: { imports: ['core', 'lib'] },
  embedded: { imports: ['core', 'lib'] },
  activities: { imports: ['core', 'lib', 'store', 'bpf/driver', 'audit', 'k8s'] },
  workers: { imports: ['core', 'workflows', 'lib', 'store', 'bpf/driver', 'audit', 'k8s', 'activities'] },
  cli: { imports: ['core', 'workflows', 'lib', 'store', 'bpf/driver', 'audit', 'k8s', 'embedded', 'activities', 'workers'] },
};
const folders = Object.keys(LAYERS);
const folderPattern = (f) => `**/${f}/*`;

/** no-restricted-imports for one layer, with what its kind of code may not use at all (`extra`). */
function layerRule(layer, extra = { paths: [], patterns: [] }) {
  const { imports, types = [] } = LAYERS[layer];
  const banned = folders.filter((f) => f !== layer && !imports.includes(f));
  const message = `${layer}/ imports only ${imports.length ? imports.map((f) => `${f}/`).join(', ') : 'itself'} (eslint.config.js LAYERS)`;
  const hard = banned.filter((f) => !types.includes(f));
  return [
    'error',
    {
      paths: extra.paths,
      patterns: [
        ...extra.patterns,
        ...(hard.length ? [{ group: hard.map(folderPattern), message }] : []),
        ...(types.length ? [{ group: types.map(folderPattern), allowTypeImports: true, message: `${message}; types only from ${types.map((f) => `${f}/`).join(', ')}` }] : []),
      ],
    },
  ];
}

/** What code that must not do I/O (the pure core, the replayed workflow) may not import. */
const pure = (why) => ({
  paths: nodeBuiltins.map((name) => ({ name, message: `${why}: no Node built-ins` })),
  patterns: [{ group: ioModules, allowTypeImports: true, message: `${why}: no I/O` }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'bpf/build/**', 'charts/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  ...folders
    .filter((f) => f !== 'core' && f !== 'workflows')
    .map((f) => ({ files: [`${f}/**/*.ts`], rules: { '@typescript-eslint/no-restricted-imports': layerRule(f) } })),
  {
    // Workflow code is replayed: it must be deterministic. No Node built-ins, no I/O, no clocks of
    // the host (Temporal's sandbox provides deterministic Date and Math.random).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': layerRule('workflows', pure('workflow code must be deterministic')),
      'no-restricted-globals': ['error', 'process', 'require', 'fetch', 'setInterval', 'setImmediate', 'performance'],
    },
  },
  {
    // The pure core: model, merge, generalisation, generators, advisor. No I/O.
    files: ['core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': layerRule('core', pure('core is pure')),
      'no-restricted-globals': ['error', 'process', 'require', 'fetch'],
    },
  },
);
