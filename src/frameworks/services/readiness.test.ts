import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseApp } from './app.ts';
import { MAX_BODY_BYTES, ReadinessChecks, type ReadinessResult } from './readiness.ts';
import type { Instance } from './reconcile.ts';

/** A real HTTP server on loopback whose answer the test sets; one probe per `run`, awaited through `onResult`. */
async function harness(answer: { status: number; body: string }) {
  const server = createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'text/plain' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let now = 0;
  const checks = new ReadinessChecks(() => now);
  const instance = { taskId: 'web.1', state: 'TASK_RUNNING', host: '127.0.0.1', ports: [port] } as Instance;
  const probeOnce = async (preserveLastResponse: boolean): Promise<ReadinessResult> => {
    const app = parseApp({ id: '/web', cmd: 'x', portDefinitions: [{ port: 0, name: 'http-api' }], readinessChecks: [{ intervalSeconds: 2, timeoutSeconds: 1, preserveLastResponse }] }, new Date(0));
    now += 10_000;
    const before = checks.results.get('web.1');
    checks.run(app, [instance], () => {});
    for (let i = 0; i < 500 && checks.results.get('web.1') === before; i++) await new Promise((r) => setTimeout(r, 10));
    const result = checks.results.get('web.1');
    assert.ok(result && result !== before, 'the probe answered');
    return result;
  };
  return {
    probeOnce,
    answer,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('preserveLastResponse keeps the last answer (status, content type, body), as Marathon; without it lastResponse is null', async () => {
  const h = await harness({ status: 503, body: 'warming up' });
  try {
    const kept = await h.probeOnce(true);
    assert.deepEqual(kept, { name: 'readinessCheck', taskId: 'web.1', ready: false, lastResponse: { status: 503, contentType: 'text/plain', body: 'warming up' } });
    const notKept = await h.probeOnce(false);
    assert.deepEqual(notKept, { name: 'readinessCheck', taskId: 'web.1', ready: false, lastResponse: null });
    h.answer.status = 200;
    h.answer.body = 'ok';
    assert.deepEqual((await h.probeOnce(true)).lastResponse, { status: 200, contentType: 'text/plain', body: 'ok' });
  } finally {
    h.close();
  }
});

test('a body larger than the bound is cut at MAX_BODY_BYTES', async () => {
  const h = await harness({ status: 200, body: 'x'.repeat(MAX_BODY_BYTES * 3) });
  try {
    const result = await h.probeOnce(true);
    assert.equal(result.ready, true);
    assert.equal(result.lastResponse?.body.length, MAX_BODY_BYTES);
  } finally {
    h.close();
  }
});

test('the app keeps preserveLastResponse (default false) in its definition', () => {
  const app = parseApp({ id: '/a', cmd: 'x', portDefinitions: [{ port: 0, name: 'http-api' }], readinessChecks: [{ preserveLastResponse: true }] }, new Date(0));
  assert.equal(app.readinessChecks[0]?.preserveLastResponse, true);
  const plain = parseApp({ id: '/a', cmd: 'x', portDefinitions: [{ port: 0, name: 'http-api' }], readinessChecks: [{}] }, new Date(0));
  assert.equal(plain.readinessChecks[0]?.preserveLastResponse, false);
});
