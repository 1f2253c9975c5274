/**
 * The SQLite backend: the embedded engine over one SQLite file. Single process (the file is
 * locked exclusively); watches are in-process. See sqlite-backing.ts for the tables.
 */
import { EmbeddedStore, type EmbeddedOptions } from '../embedded/embedded-store.ts';
import type { Store } from '../store.ts';
import { SqliteBacking } from './sqlite-backing.ts';

export type SqliteStoreOptions = EmbeddedOptions;

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store & { expireLeases(): void } {
  return new EmbeddedStore('sqlite', new SqliteBacking(path), options);
}
