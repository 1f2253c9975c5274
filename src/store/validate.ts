/**
 * Argument checks at the Store edge, shared by all backends so that a call that is wrong on one
 * backend is wrong, with the same DROVER_ERR_STORE_MISUSE, on all of them (a bug found against
 * the memory store in a unit test must not first show up against etcd in production).
 */
import { DroverError } from '../errors/errors.ts';
import type { Compare, Op, Txn } from './store.ts';

/**
 * Most operations per transaction branch. etcd's default `--max-txn-ops` is 128; the embedded
 * backends enforce the same limit so code written against them also runs on etcd.
 */
export const MAX_TXN_OPS = 128;

function misuse(message: string): DroverError {
  return new DroverError('STORE_MISUSE', message);
}

export function requireKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw misuse(`${what} must be a non-empty string`);
}

/**
 * Election names become one path segment of the candidacy keys: with a '/', election 'a' would
 * see the candidacies of election 'a/b' under its prefix.
 */
export function requireElection(election: unknown): asserts election is string {
  requireKey(election, 'election');
  if (election.includes('/')) throw misuse(`election '${election}' must not contain '/'`);
}

export function requireValue(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw misuse('value must be a string');
}

export function requirePrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw misuse('prefix must be a string');
}

/** Lease TTLs are whole seconds: etcd's wire type is an int64 number of seconds. */
export function requireTtl(ttl: unknown): asserts ttl is number {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0) {
    throw misuse(`ttlSeconds must be a positive integer, got ${String(ttl)}`);
  }
}

export function requireRevision(revision: unknown, what: string, min: number): asserts revision is number {
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < min) {
    throw misuse(`${what} must be an integer >= ${min}, got ${String(revision)}`);
  }
}

export function requireLimit(limit: unknown): void {
  if (limit === undefined) return;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw misuse(`limit must be a positive integer, got ${String(limit)}`);
  }
}

export function requireLeaseId(lease: unknown): void {
  if (lease === undefined) return;
  if (typeof lease !== 'string' || lease.length === 0) throw misuse('lease must be a non-empty lease id');
}

const targets = new Set(['value', 'version', 'createRevision', 'modRevision']);
const comparisons = new Set(['=', '!=', '<', '>']);

export function requireCompare(compare: Compare): void {
  if (typeof compare !== 'object' || compare === null) throw misuse('compare must be an object');
  requireKey(compare.key, 'compare key');
  if (!targets.has(compare.target)) throw misuse(`unknown compare target '${String(compare.target)}'`);
  if (!comparisons.has(compare.op)) throw misuse(`unknown compare op '${String(compare.op)}'`);
  if (compare.target === 'value') {
    if (typeof compare.value !== 'string') throw misuse('a value compare needs a string value');
  } else {
    requireRevision(compare.value, `compare ${compare.target}`, 0);
  }
}

/**
 * Checks one branch of a transaction. Like etcd, a branch may not write the same key twice, nor
 * put a key that one of its deletes covers: the result would depend on op order, which etcd
 * rejects ("duplicate key given in txn request"). Overlapping deletes are fine.
 */
export function requireOps(ops: unknown, branch: string): asserts ops is Op[] {
  if (!Array.isArray(ops)) throw misuse(`${branch} must be an array of operations`);
  if (ops.length > MAX_TXN_OPS) throw misuse(`${branch} has ${ops.length} operations; at most ${MAX_TXN_OPS} are allowed`);
  const puts = new Set<string>();
  const deletes = new Set<string>();
  const prefixes: string[] = [];
  for (const op of ops as Op[]) {
    if (typeof op !== 'object' || op === null) throw misuse('an operation must be an object');
    switch (op.type) {
      case 'put':
        requireKey(op.key);
        requireValue(op.value);
        requireLeaseId(op.lease);
        if (puts.has(op.key)) throw misuse(`duplicate key '${op.key}' in ${branch}`);
        puts.add(op.key);
        break;
      case 'delete':
        requireKey(op.key);
        deletes.add(op.key);
        break;
      case 'deletePrefix':
        requirePrefix(op.prefix);
        prefixes.push(op.prefix);
        break;
      default:
        throw misuse(`unknown operation type '${String((op as { type: unknown }).type)}'`);
    }
  }
  for (const key of puts) {
    if (deletes.has(key) || prefixes.some((prefix) => key.startsWith(prefix))) {
      throw misuse(`key '${key}' is both put and deleted in ${branch}`);
    }
  }
}

export function requireTxn(txn: Txn): void {
  if (typeof txn !== 'object' || txn === null) throw misuse('txn must be an object');
  const compares = txn.compare ?? [];
  if (!Array.isArray(compares)) throw misuse('compare must be an array');
  if (compares.length > MAX_TXN_OPS) throw misuse(`at most ${MAX_TXN_OPS} compares are allowed`);
  compares.forEach(requireCompare);
  requireOps(txn.success, 'success');
  if (txn.failure !== undefined) requireOps(txn.failure, 'failure');
}
