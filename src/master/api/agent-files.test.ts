/**
 * The relay's wait for a slow reader (drainedOrClosed): however many pauses, no listener stays on
 * the response — before, each pause left a 'close' listener until the stream ended.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { drainedOrClosed } from './agent-files.ts';

test('1,000 backpressure pauses leave no drain or close listener behind; close ends a wait too', async () => {
  const stream = new PassThrough({ highWaterMark: 1 });
  const baseline = { drain: stream.listenerCount('drain'), close: stream.listenerCount('close') };
  for (let i = 0; i < 1000; i++) {
    assert.equal(stream.write('xx'), false, 'over the high-water mark: the writer must wait');
    const waited = drainedOrClosed(stream);
    stream.read(); // the reader takes what is buffered: 'drain'
    await waited;
  }
  assert.equal(stream.listenerCount('drain'), baseline.drain);
  assert.equal(stream.listenerCount('close'), baseline.close);
  stream.write('xx');
  const waited = drainedOrClosed(stream);
  stream.destroy(); // the caller went away
  await waited;
  assert.equal(stream.listenerCount('drain'), baseline.drain);
});
