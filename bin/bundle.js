// Is dist/ (scripts/build.mjs) the code of the sources as they are now? Read by bin/drover.js at
// every start, so it must be cheap: one stat per bundled source file, compared with the stamp
// the build wrote (its size and mtime). A file whose mtime differs but whose size does not is read
// and hashed (a checkout or an npm pack rewrites mtimes without changing contents). Any
// difference, a missing file or a missing stamp: stale, and the sources run through tsx.
// docs/architecture/026-bundle.md.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What the build records of one source file: [size, mtimeMs, sha256 hex]. */
export function describeFile(path) {
  const stat = statSync(path);
  return [stat.size, stat.mtimeMs, createHash('sha256').update(readFileSync(path)).digest('hex')];
}

/** Every file under dir (for the build, which then keeps those esbuild read). */
export function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

/**
 * undefined when dist/ under root holds a bundle of the sources as they are; else why not (a
 * sentence for `drover version`).
 */
export function bundleStaleness(root) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, 'dist', 'stamp.json'), 'utf8'));
  } catch {
    return 'no bundle in dist/ (npm run build makes one)';
  }
  if (typeof stamp !== 'object' || stamp === null || typeof stamp.files !== 'object' || stamp.files === null) return 'dist/stamp.json is not a stamp';
  for (const [file, [size, mtimeMs, sha256]] of Object.entries(stamp.files)) {
    let stat;
    try {
      stat = statSync(join(root, file));
    } catch {
      return `${file} is gone since the bundle was built`;
    }
    if (stat.mtimeMs === mtimeMs && stat.size === size) continue;
    if (
      stat.size !== size ||
      createHash('sha256')
        .update(readFileSync(join(root, file)))
        .digest('hex') !== sha256
    )
      return `${file} changed since the bundle was built`;
  }
  return undefined;
}
