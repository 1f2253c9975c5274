import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { isLoopbackAddress, tlsServerFactory } from './tls-server.ts';

test('plain HTTP on loopback: which peer addresses count as this machine', () => {
  for (const yes of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(yes), true, yes);
  for (const no of [undefined, '', '10.0.0.1', '192.168.1.127', '::ffff:10.0.0.1', 'fe80::1', '1127.0.0.1', '::2']) assert.equal(isLoopbackAddress(no), false, String(no));
});

test('plain HTTP keeps a connection alive as long as fastify would (72 s), not node’s 5 s', async () => {
  const server = tlsServerFactory({ clientCaPem: '', plain: 'any' })((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    // One request on a raw socket: the answer names the server's keep-alive.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\nok')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    assert.match(answer, /keep-alive: timeout=72/i);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
