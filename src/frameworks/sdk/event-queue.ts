/**
 * An unbounded async queue: producers push, one consumer iterates (or several waiters take).
 * Used to turn a stream of events into something tests and frameworks can `await`.
 */
export class EventQueue<T> implements AsyncIterable<T> {
  /**
   * Items from `head` on are queued. A head index instead of `shift()`: shift on a long array
   * is a copy of the rest, and a framework 100,000 updates behind made every take O(n).
   */
  private items: T[] = [];
  private head = 0;
  private readonly waiters: Array<(result: IteratorResult<T>) => void> = [];
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Items waiting to be taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.items[this.head++] = undefined as T; // no reference kept to a taken item
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value: item, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
