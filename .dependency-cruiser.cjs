/**
 * Dependency rules: the layers of docs/architecture/000-map.md, enforced (`npm run lint`).
 *
 *   clock, errors, log            import nothing of ours
 *   resources                     ← value types
 *   protocol                      ← schemas, RecordIO
 *   http                          ← the HTTP server edge (errors and logging)
 *   store, placement, iam, images, secrets ← persistence, placement pipeline, identities, image puller + layer store, the secret store
 *   master, agent, frameworks     ← the three halves of the system; none imports another
 *   catalog, discovery, lb        ← built on the event streams of the layer below
 *   cli, cluster                  ← composition root and commands: may import all of src
 *   web                           ← may import src (schemas, decoders, backoff), never a server
 *   devkit                        ← real processes for tests, sim and bench; may import src
 *   sim, bench                    ← may import anything; nothing imports them
 *
 * A folder's unit tests (`*.test.ts`, the store's contract suite) may also import upwards and
 * devkit/ (e.g. an SDK test runs a whole cluster); nothing in src/ imports test/.
 */

/** What each src/ folder may import besides itself (besides clock, errors and log, which all may). */
const MAY_IMPORT = {
  clock: [],
  errors: [],
  log: [],
  resources: [],
  protocol: ['resources'],
  http: [],
  store: ['protocol', 'resources'],
  placement: ['protocol', 'resources'],
  iam: ['store', 'protocol', 'resources'],
  images: ['protocol', 'resources'],
  secrets: ['store', 'protocol', 'resources'],
  master: ['store', 'placement', 'iam', 'http', 'protocol', 'resources'],
  agent: ['store', 'placement', 'iam', 'images', 'http', 'protocol', 'resources'],
  frameworks: ['store', 'placement', 'iam', 'images', 'http', 'protocol', 'resources'],
  catalog: ['master', 'agent', 'frameworks', 'store', 'placement', 'iam', 'images', 'http', 'protocol', 'resources'],
  discovery: ['master', 'agent', 'frameworks', 'store', 'placement', 'iam', 'images', 'http', 'protocol', 'resources'],
  lb: ['master', 'agent', 'frameworks', 'store', 'placement', 'iam', 'images', 'http', 'protocol', 'resources'],
};
const FOUNDATION = { clock: [], errors: [], log: [] };

/** Unit tests and the store's contract suite: exempt from the layering, not from the rest. */
const TESTS = '(\\.test\\.ts$|^src/store/contract/)';

const layerRules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => {
  const own = folder in FOUNDATION ? [folder] : [folder, 'clock', 'errors', 'log'];
  return {
    name: `layer-${folder}`,
    comment: `src/${folder} may import only ${[...own.slice(1), ...allowed].join(', ') || 'nothing of ours'} (docs/architecture/000-map.md)`,
    severity: 'error',
    from: { path: `^src/${folder}/`, pathNot: TESTS },
    to: { path: '^src/', pathNot: `^src/(${[...own, ...allowed].join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one unit that must be read, tested and changed together.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'nothing-imports-sim-or-bench',
      comment: 'sim/ and bench/ are leaves: they may import anything, nothing imports them (but their own tests in test/).',
      severity: 'error',
      from: { pathNot: '^(sim|bench|test)/' },
      to: { path: '^(sim|bench)/' },
    },
    {
      name: 'src-not-test',
      comment: 'The product never imports tests; what tests, sim and bench share lives in devkit/.',
      severity: 'error',
      from: { path: '^(src|devkit|sim|bench|web)/' },
      to: { path: '^test/' },
    },
    {
      name: 'src-not-devkit',
      comment: 'devkit/ spawns etcd and drover processes: only tests (and sim, bench) may use it.',
      severity: 'error',
      from: { path: '^src/', pathNot: TESTS },
      to: { path: '^devkit/' },
    },
    {
      name: 'web-not-server',
      comment: 'The web UI runs in a browser: it may use pure parts of src/, never the servers or Node-only layers.',
      severity: 'error',
      from: { path: '^web/' },
      to: { path: '^src/(master|agent|store|http|cluster|cli|log)/' },
    },
  ],
  options: {
    // TypeScript 7 has no JS compiler API for dependency-cruiser to parse with; swc parses the
    // same syntax (type-only imports included, so layering counts them too).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // .tsx is left out: dependency-cruiser's swc parser reads TypeScript without JSX. The UI's
    // .tsx files (pages, components) reach src/ only through web/src/*.ts modules, which are checked.
    exclude: { path: '(^|/)(node_modules|dist)/|\\.tsx$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.cjs', '.mjs'] },
  },
};
