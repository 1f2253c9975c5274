export type * from './store.ts';
export { openStore } from './open.ts';
export { createMemoryStore, type MemoryStoreOptions } from './memory/memory-store.ts';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.ts';
export { openEtcdStore, type EtcdStoreOptions } from './etcd/etcd-store.ts';
export { ELECTION_PREFIX } from './election.ts';
export { MAX_TXN_OPS } from './validate.ts';
