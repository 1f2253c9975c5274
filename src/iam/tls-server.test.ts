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

test('a connection whose first byte arrived while the loop was stalled past the first-byte timeout is served, not cut', async () => {
  const server = tlsServerFactory({ clientCaPem: '', plain: 'any', firstByteTimeoutMs: 50 })((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\nok')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      // Wait until the server has accepted the connection (its timer runs), then send the request
      // and stall this process's loop past the timeout: the request waits in the kernel while the
      // timer expires, as on a starved master during a thousand agents' handshakes.
      server.once('connection', () => {
        socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n', () => {
          const until = Date.now() + 300;
          while (Date.now() < until) {
            // stall the loop (no timers, no I/O)
          }
        });
      });
    });
    assert.match(answer, /\r\n\r\nok/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('a connection that stays silent past the first-byte timeout is closed', async () => {
  const server = tlsServerFactory({ clientCaPem: '', plain: 'any', firstByteTimeoutMs: 50 })((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
    });
    assert.equal(closed, true);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
