/**
 * The Lease handle of the embedded backends. The engine tells the handle when its lease ended
 * (expired in a sweep, or found missing on renewal); `onLost` fires then, unless this handle
 * revoked the lease itself.
 */
import type { Clock } from '../../clock/clock.ts';
import { every, type Repeating } from '../../clock/every.ts';
import type { Lease } from '../store.ts';

export interface LeaseEngine {
  /** Renews the lease; throws STORE_LEASE_NOT_FOUND if it has ended. */
  renewLease(id: string): void;
  /** Ends the lease and deletes its keys; a no-op for a lease that has already ended. */
  revokeLease(id: string): void;
  /** Throws STORE_CLOSED once the store is closed. */
  ensureOpen(): void;
}

export class EmbeddedLease implements Lease {
  private timer: Repeating | undefined;
  private revoked = false;
  private ended = false;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly engine: LeaseEngine,
    readonly id: string,
    readonly ttlSeconds: number,
    keepAlive: boolean,
    clock: Clock,
  ) {
    if (keepAlive) {
      // Renew at a third of the TTL, as etcd's clients do: two renewals may be late before loss.
      this.timer = every(clock, (ttlSeconds * 1000) / 3, () => {
        try {
          this.engine.renewLease(this.id);
        } catch {
          this.markEnded();
        }
      });
    }
  }

  async keepAliveOnce(): Promise<void> {
    this.engine.ensureOpen();
    try {
      this.engine.renewLease(this.id);
    } catch (error) {
      this.markEnded();
      throw error;
    }
  }

  async revoke(): Promise<void> {
    this.engine.ensureOpen();
    this.revoked = true;
    this.stop();
    this.engine.revokeLease(this.id);
  }

  onLost(listener: () => void): void {
    if (this.ended && !this.revoked) queueMicrotask(listener);
    else this.listeners.push(listener);
  }

  /** The engine found the lease gone (expiry sweep, failed renewal). */
  markEnded(): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    if (this.revoked) return;
    for (const listener of this.listeners.splice(0)) queueMicrotask(listener);
  }

  /** Stops renewing (store closing); the lease itself is left to expire. */
  stop(): void {
    this.timer?.stop();
    this.timer = undefined;
  }
}
