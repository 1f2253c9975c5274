/**
 * Child process for the crash and power-loss tests (sqlite-durability.test.ts,
 * test/store-durability.test.ts): writes to a SQLite store until it is killed, single awaited
 * puts and group commits at once (what the master does), and prints each key to stdout only
 * after its put resolved. The printed keys are exactly the writes the store acknowledged.
 *
 *   node --import tsx acknowledging-writer.test-child.ts PATH [group|full|normal]
 */
import { openSqliteStore } from './sqlite-store.ts';

const [path, synchronous = 'group'] = process.argv.slice(2);
if (path === undefined || (synchronous !== 'group' && synchronous !== 'full' && synchronous !== 'normal')) {
  process.stderr.write('usage: acknowledging-writer.test-child.ts PATH [group|full|normal]\n');
  process.exit(2);
}
const store = openSqliteStore(path, { synchronous });
const writer = store.batchWriter();
let next = 0;
const batched = async (): Promise<void> => {
  for (;;) {
    const key = `/b/${next++}`;
    await writer.put(key, 'x'.repeat(300));
    process.stdout.write(`${key}\n`);
  }
};
for (let i = 0; i < 50; i++) void batched();
for (let i = 0; ; i++) {
  await store.put(`/s/${i}`, 'y'.repeat(300));
  process.stdout.write(`/s/${i}\n`);
}
