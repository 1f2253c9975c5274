/**
 * The Mesos version Drover answers as (`/version`, GET_VERSION, `/master/state`'s `version`), in
 * the shape of Mesos' `/version` endpoint (src/common/http.cpp) and `VersionInfo` (mesos.proto).
 * Clients gate features on it (1.11 is the last Mesos release, whose APIs Drover follows).
 * `build_*` describe this Drover install: when its package was installed or built (its
 * package.json's mtime), by whom (the file's owner).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

export const MESOS_VERSION = '1.11.0';

export interface VersionJson {
  version: string;
  build_date: string;
  build_time: number;
  build_user: string;
}

let cached: VersionJson | undefined;

export function versionJson(): VersionJson {
  if (cached !== undefined) return cached;
  let built = new Date(0);
  let user = 'drover';
  try {
    const stat = statSync(join(import.meta.dirname, '..', '..', '..', 'package.json'));
    built = stat.mtime;
    user = stat.uid === 0 ? 'root' : String(stat.uid);
  } catch {
    // A bundled build without its package.json: the epoch, as an unknown build time.
  }
  cached = {
    version: MESOS_VERSION,
    build_date: built
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ''),
    build_time: Math.floor(built.getTime() / 1000),
    build_user: user,
  };
  return cached;
}
