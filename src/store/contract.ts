/**
 * The Store contract: one suite that every backend runs (memory, SQLite, etcd), so they agree on
 * revisions, transactions, watches, leases, election, group commit and errors.
 *
 *   storeContract('sqlite', () => openStore(`sqlite:${tempFile()}`), cleanupTempDir);
 *
 * `open` must return a working store each time it is called; tests close what they open. Stores
 * may share data (one etcd for a whole file): every test uses its own key prefix and election.
 */
import { after, describe } from 'node:test';
import { batchContract, misuseContract } from './contract/batch-misuse-contract.ts';
import { electionContract } from './contract/election-contract.ts';
import { kvContract } from './contract/kv-contract.ts';
import type { OpenStore } from './contract/support.ts';
import { leaseContract, watchContract } from './contract/watch-lease-contract.ts';

export type { OpenStore } from './contract/support.ts';

export function storeContract(name: string, open: OpenStore, cleanup?: () => Promise<void> | void): void {
  describe(`Store contract: ${name}`, () => {
    if (cleanup !== undefined) after(cleanup);
    kvContract(open);
    watchContract(open);
    leaseContract(open);
    electionContract(open);
    batchContract(open);
    misuseContract(open);
  });
}
