/**
 * The SQLite backend: the embedded engine over one SQLite file. Single process (the file is
 * locked exclusively); watches are in-process. See sqlite-backing.ts for the tables and
 * sqlite-open.ts for what is checked before a file is served.
 */
import { EmbeddedStore, type EmbeddedOptions } from '../embedded/embedded-store.ts';
import type { Store } from '../store.ts';
import type { ClusterIdentity } from './cluster-identity.ts';
import { SqliteBacking } from './sqlite-backing.ts';
import type { Synchronous } from './sqlite-open.ts';

export interface SqliteStoreOptions extends EmbeddedOptions {
  /** Default 'group' (commits survive a power loss, fsyncs shared); see Synchronous in sqlite-open.ts. */
  synchronous?: Synchronous;
}

export type SqliteStore = Store & {
  expireLeases(): void;
  /** The cluster this store file belongs to (created with the file; see cluster-identity.ts). */
  readonly cluster: ClusterIdentity;
};

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  const { synchronous, ...embedded } = options;
  const backing = new SqliteBacking(path, {
    ...(synchronous === undefined ? {} : { synchronous }),
    ...(embedded.clock === undefined ? {} : { now: () => embedded.clock!.now() }),
  });
  return Object.assign(new EmbeddedStore('sqlite', backing, embedded), { cluster: backing.identity });
}
