/**
 * Translation between the Store's types and etcd's wire types (etcd3's protobuf objects): keys and
 * values as Buffers, int64 revisions as decimal strings, lease "0" for no lease, and etcd's error
 * messages as DroverError codes.
 */
import { ClientClosedError, EtcdLeaseInvalidError } from 'etcd3';
import type { ICompare, IEvent, IKeyValue, IRequestOp } from 'etcd3';
import { DroverError, isDroverError } from '../../errors/errors.ts';
import { prefixEndBytes } from '../keys.ts';
import type { Compare, KeyValue, Op, WatchEvent } from '../store.ts';

const ALL = Buffer.from([0]);

/** etcd's [key, range_end) for every key starting with `prefix` ('' = everything). */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === '') return { key: ALL, range_end: ALL };
  const key = Buffer.from(prefix);
  return { key, range_end: prefixEndBytes(key) };
}

export function toKeyValue(kv: IKeyValue): KeyValue {
  const out: KeyValue = {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
  };
  if (kv.lease !== undefined && kv.lease !== '0' && kv.lease !== '') out.lease = String(kv.lease);
  return out;
}

export function toWatchEvent(e: IEvent): WatchEvent {
  const revision = Number(e.kv.mod_revision);
  if (e.type === 'Delete') {
    return { type: 'delete', revision, kv: { key: e.kv.key.toString(), value: '', createRevision: 0, modRevision: revision, version: 0 } };
  }
  return { type: 'put', revision, kv: toKeyValue(e.kv) };
}

const results = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

export function toCompare(c: Compare): ICompare {
  const base = { key: Buffer.from(c.key), result: results[c.op] };
  switch (c.target) {
    case 'value':
      return { ...base, target: 'Value', value: Buffer.from(c.value as string) };
    case 'version':
      return { ...base, target: 'Version', version: c.value as number };
    case 'createRevision':
      return { ...base, target: 'Create', create_revision: c.value as number };
    case 'modRevision':
      return { ...base, target: 'Mod', mod_revision: c.value as number };
  }
}

export function toRequestOp(op: Op): IRequestOp {
  switch (op.type) {
    case 'put':
      return {
        request_put: op.lease === undefined ? { key: Buffer.from(op.key), value: Buffer.from(op.value) } : { key: Buffer.from(op.key), value: Buffer.from(op.value), lease: op.lease },
      };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(op.key) } };
    case 'deletePrefix':
      return { request_delete_range: prefixRange(op.prefix) };
  }
}

/** Maps an etcd3/gRPC error to the Store's error codes (the original stays as `cause`). */
export function storeError(error: unknown): DroverError {
  if (isDroverError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  if (error instanceof EtcdLeaseInvalidError || message.includes('requested lease not found')) {
    return new DroverError('STORE_LEASE_NOT_FOUND', `lease has expired or was revoked (${message})`, options);
  }
  if (error instanceof ClientClosedError) return new DroverError('STORE_CLOSED', 'etcd store closed', options);
  if (message.includes('required revision has been compacted')) {
    return new DroverError('STORE_COMPACTED', `revision has been compacted: resync with a fresh range (${message})`, options);
  }
  for (const misuse of ['future revision', 'duplicate key given', 'too many operations', 'value size is too large', 'request is too large']) {
    if (message.includes(misuse)) return new DroverError('STORE_MISUSE', `etcd refused the request: ${message}`, options);
  }
  return new DroverError('STORE_UNAVAILABLE', `etcd: ${message}`, options);
}
