/**
 * The memory backend: the embedded engine over in-process maps. Nothing persists; for tests and
 * the simulator. Each call returns an independent store.
 */
import { EmbeddedStore, type EmbeddedOptions } from '../embedded/embedded-store.ts';
import type { Store } from '../store.ts';
import { MemoryBacking } from './memory-backing.ts';

export type MemoryStoreOptions = EmbeddedOptions;

export function createMemoryStore(options: MemoryStoreOptions = {}): Store & { expireLeases(): void } {
  // Sweep more often than SQLite's default: it costs nothing here and keeps lease tests snappy.
  return new EmbeddedStore('memory', new MemoryBacking(), { sweepIntervalMs: 100, ...options });
}
