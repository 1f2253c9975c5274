import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopbackAddress } from './tls-server.ts';

test('plain HTTP on loopback: which peer addresses count as this machine', () => {
  for (const yes of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(yes), true, yes);
  for (const no of [undefined, '', '10.0.0.1', '192.168.1.127', '::ffff:10.0.0.1', 'fe80::1', '1127.0.0.1', '::2']) assert.equal(isLoopbackAddress(no), false, String(no));
});
