/**
 * The HTTP shell over a real socket: an unexpected error is a 500 with the one error shape, and
 * its message and stack reach the log (they were logged as `"error":{}` once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../log/index.ts';
import { createHttpServer } from './server.ts';

test('a route that throws answers 500 and logs the message and stack', async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  const app = createHttpServer({ logger });
  app.get('/boom', async () => {
    throw new Error('the disk is on fire');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const response = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/boom?x=1`);
    assert.equal(response.status, 500);
    const failed = lines.filter((l) => l['msg'] === 'request-failed');
    assert.equal(failed.length, 1, JSON.stringify(lines));
    const line = failed[0]!;
    assert.equal(line['url'], '/boom?x=1');
    const err = line['err'] as { type: string; message: string; stack: string };
    assert.equal(err.type, 'Error');
    assert.equal(err.message, 'the disk is on fire');
    assert.match(err.stack, /^Error: the disk is on fire\n\s+at .*server\.test\.ts/);
  } finally {
    await app.close();
  }
});
