/**
 * Opens a store from its URL, the one way configuration names a store:
 *   memory:                          in-process, nothing persists
 *   sqlite:PATH                      embedded file (sqlite:///abs/path and sqlite:rel.db both work)
 *   etcd://host:port[,host:port…]    an etcd cluster
 */
import { DroverError } from '../errors/errors.ts';
import { openEtcdStore } from './etcd/etcd-store.ts';
import { createMemoryStore } from './memory/memory-store.ts';
import { openSqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

function badUrl(url: string, why: string): DroverError {
  return new DroverError('CONFIG', `invalid store URL '${url}': ${why} (expected memory:, sqlite:PATH or etcd://host:port[,host:port…])`);
}

/** Parses `host:port[,host:port…]` into etcd endpoints (`http://host:port`). */
export function parseEtcdHosts(url: string, list: string): string[] {
  if (list === '') throw badUrl(url, 'no etcd host');
  return list.split(',').map((entry) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry.trim());
    const port = Number(match?.[2]);
    if (match === null || !(port >= 1 && port <= 65535)) throw badUrl(url, `'${entry}' is not host:port`);
    return `http://${match[1]}:${port}`;
  });
}

export async function openStore(url: string): Promise<Store> {
  if (typeof url !== 'string') throw badUrl(String(url), 'not a string');
  if (url === 'memory:' || url === 'memory://') return createMemoryStore();
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs → /abs
    if (path === '') throw badUrl(url, 'no file path');
    return openSqliteStore(path);
  }
  if (url.startsWith('etcd://')) {
    const list = url.slice('etcd://'.length).replace(/\/$/, '');
    return openEtcdStore(parseEtcdHosts(url, list));
  }
  throw badUrl(url, 'unknown scheme');
}
