/**
 * Time-ordered UUIDs (RFC 9562 version 7: 48 bits of Unix milliseconds, a 12-bit counter within
 * the millisecond, 62 random bits) for task ids. Marathon's are time-based too; what matters here
 * is the store: an instance is stored under its task id, and with random (v4) ids every group
 * commit of 100 fresh instances dirtied ~100 scattered B-tree pages of the instance table. Ids
 * that increase with time append instead (docs/architecture/006-scale.md).
 */
import { randomUUID } from 'node:crypto';

export class TimeOrderedUuids {
  private lastMs = -1;
  private counter = 0;

  constructor(private readonly now: () => number = Date.now) {}

  next(): string {
    // A clock that steps back (or 4,096 ids in one millisecond) borrows the next millisecond:
    // ids from one source never go backwards.
    let ms = Math.max(Math.floor(this.now()), this.lastMs);
    if (ms === this.lastMs) {
      this.counter++;
      if (this.counter > 0xfff) {
        ms++;
        this.counter = 0;
      }
    } else {
      this.counter = 0;
    }
    this.lastMs = ms;
    const time = ms.toString(16).padStart(12, '0');
    // The variant nibble and the last 60 random bits come from a v4 UUID.
    const random = randomUUID();
    return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${this.counter.toString(16).padStart(3, '0')}-${random.slice(19)}`;
  }
}
