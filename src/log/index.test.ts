/** Errors in log lines keep their message and stack, under `err` and under `error`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './index.ts';

function capture(): { lines: Record<string, unknown>[]; destination: { write(line: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } };
}

test('an Error under err or error logs its type, message, stack and cause', () => {
  const { lines, destination } = capture();
  const log = createLogger({ destination });
  const cause = new Error('ENOSPC on /var');
  log.error({ err: new Error('write failed', { cause }) }, 'one');
  log.warn({ error: new TypeError('bad offer') }, 'two');
  log.info({ error: 'a plain string stays a string' }, 'three');
  assert.equal(lines.length, 3);
  const [one, two, three] = lines as [Record<string, { type: string; message: string; stack: string }>, Record<string, { type: string; message: string; stack: string }>, Record<string, unknown>];
  // pino folds the cause into the message and appends its stack.
  assert.equal(one['err']!.message, 'write failed: ENOSPC on /var');
  assert.match(one['err']!.stack, /^Error: write failed\n\s+at [\s\S]*\ncaused by: Error: ENOSPC on \/var\n/);
  assert.equal(two['error']!.type, 'TypeError');
  assert.equal(two['error']!.message, 'bad offer');
  assert.match(two['error']!.stack, /index\.test\.ts/);
  assert.equal(three['error'], 'a plain string stays a string');
});
