/**
 * `--fetcher-allowed-paths /srv/artifacts,/opt/pkgs`: the host directories whose files `file://`
 * URIs and bare paths may name. Pure and light, so the CLI checks the flag before anything starts.
 */
import { isAbsolute, normalize } from 'node:path';

/** The directories, normalized; throws with the reason when one is not an absolute path. */
export function parseAllowedPaths(text: string): string[] {
  const paths = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const path of paths) {
    if (!isAbsolute(path)) throw new Error(`'${path}' is not an absolute path`);
    if (path.includes('\0')) throw new Error('a path has a NUL byte');
  }
  // '/srv/x/' and '/srv/x' are one directory; a trailing separator would break the prefix check.
  return paths.map((p) => normalize(p).replace(/(.)\/+$/, '$1'));
}
