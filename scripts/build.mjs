// `npm run build:cli` (and `npm run build`, `prepare`): bundles the `drover` command, the DNS
// thread and the fetcher child into plain JavaScript under dist/, so a `drover` process does not
// load the TypeScript sources through tsx at every start (docs/architecture/026-bundle.md).
// bin/drover.js runs the bundle only while it is as new as every file under src/ (dist/stamp.json),
// else the sources through tsx, as before.
//
// Plain JavaScript run by plain node, with the esbuild tsx itself ships (tsx is a dependency, and
// its esbuild is the one that already turns these sources into JavaScript under tsx).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { describeFile, listFiles } from '../bin/bundle.js';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx'))('esbuild');

/** The processes and threads Drover starts from its own code, by their name in dist/. */
const entries = {
  drover: 'src/cli/main.ts',
  'dns-thread': 'src/discovery/dns-thread-body.ts',
  'fetcher-child': 'src/agent/fetcher/fetcher-child.ts',
};

/**
 * A source file reads files that sit beside it (`new URL('./launcher.pl', import.meta.url)`) or
 * above it (`join(import.meta.dirname, '..', '..', 'catalog')`). In the bundle every module's
 * `import.meta` is the bundle's, in dist/; so each source's `import.meta.url` and
 * `import.meta.dirname` become its own location, as a path from the bundle's (the tree keeps
 * src/ next to dist/, and a moved checkout still works). `import.meta.resolve` is left alone:
 * packages resolve the same from dist/ as from src/.
 */
const sourceLocations = {
  name: 'source-locations',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      if (text.includes('import.meta.url') || text.includes('import.meta.dirname')) {
        const file = relative(dist, args.path).split(sep).join('/');
        const dir = relative(dist, dirname(args.path)).split(sep).join('/');
        text = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(file)}, import.meta.url).href`);
        text = text.replaceAll('import.meta.dirname', `(import.meta.dirname + ${JSON.stringify(`/${dir}`)})`);
      }
      return { contents: text, loader: 'ts' };
    });
  },
};

// The sources are described before bundling: a file saved during the build makes the bundle stale.
const described = new Map(listFiles(join(root, 'src')).map((path) => [relative(root, path).split(sep).join('/'), describeFile(path)]));
const staging = `${dist}.${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: entries,
  outdir: staging,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  splitting: true,
  // Stack traces name src/*.ts and their lines (bin/drover.js turns source maps on). Node needs
  // the mappings only, not the sources' text: maps a fraction of the size, cheaper to read and parse.
  sourcemap: 'linked',
  sourcesContent: false,
  outExtension: { '.js': '.mjs' },
  plugins: [sourceLocations],
  metafile: true,
  logLevel: 'warning',
});
// Only the files esbuild read: a test or a note beside the sources changes nothing in the bundle.
const inputs = Object.keys(result.metafile.inputs).filter((file) => file.startsWith('src/'));
const files = Object.fromEntries(inputs.map((file) => [file, described.get(file) ?? describeFile(join(root, file))]));
writeFileSync(join(staging, 'stamp.json'), `${JSON.stringify({ builtAt: new Date().toISOString(), files })}\n`);
// Moved in file by file (a rename each), the entries and then the stamp last: a `drover` starting
// meanwhile runs the old entries or the new ones. Chunks are named by their contents, so a process
// still running an old build finds its lazily imported chunks: those of older builds are removed
// only after a day.
mkdirSync(dist, { recursive: true });
const built = new Set(readdirSync(staging));
const last = ['stamp.json', ...Object.keys(entries).flatMap((name) => [`${name}.mjs`, `${name}.mjs.map`])];
for (const file of [...[...built].filter((f) => !last.includes(f)), ...last.toReversed()]) renameSync(join(staging, file), join(dist, file));
rmSync(staging, { recursive: true, force: true });
const dayAgo = Date.now() - 86_400_000;
for (const file of readdirSync(dist)) {
  if (!built.has(file) && statSync(join(dist, file)).mtimeMs < dayAgo) rmSync(join(dist, file), { force: true });
}
console.log(`dist/: ${Object.keys(entries).join(', ')} from ${inputs.length} source files`);
