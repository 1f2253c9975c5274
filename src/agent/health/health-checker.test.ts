/**
 * The health checker shell against real sockets and processes, with intervals of tens of ms.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HealthCheckSpec, HealthProbe } from './health-check-spec.ts';
import { HealthChecker } from './health-checker.ts';
import { runProbe } from './health-probes.ts';
import type { HealthReport, ProbeResult } from './health-state.ts';
import { ManualClock, systemClock } from '../../clock/clock.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fastSpec(probe: HealthProbe, overrides: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return { probe, delayMs: 0, intervalMs: 30, timeoutMs: 2000, consecutiveFailures: 2, gracePeriodMs: 0, ...overrides };
}

function check(spec: HealthCheckSpec, sandbox = tmpdir(), env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }): { reports: HealthReport[]; checker: HealthChecker } {
  const reports: HealthReport[] = [];
  const checker = new HealthChecker({ spec, sandbox, env, clock: systemClock, onReport: (r) => reports.push(r) });
  cleanups.push(() => checker.stop());
  checker.start();
  return { reports, checker };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('HealthChecker', () => {
  test('HTTP: healthy while the server answers 2xx, unhealthy once it stops answering', async () => {
    const server = createHttpServer((req, res) => {
      res.statusCode = req.url === '/health' ? 204 : 404;
      res.end();
    });
    const port = await listen(server);
    cleanups.push(() => server.close());
    const { reports } = check(fastSpec({ type: 'HTTP', port, path: '/health', scheme: 'http', statuses: [] }));
    await until(() => reports.length === 1, 'healthy');
    assert.equal(reports[0]!.healthy, true);

    server.closeAllConnections();
    server.close();
    await until(() => reports.length === 2, 'unhealthy');
    assert.equal(reports[1]!.healthy, false);
    assert.match(reports[1]!.message, /failed 2 times in a row: .*ECONNREFUSED/);
  });

  test('HTTP: a status outside 200–399 and a server that hangs are failures', async () => {
    let mode: 'error' | 'hang' = 'error';
    const server = createHttpServer((_req, res) => {
      if (mode === 'error') {
        res.statusCode = 503;
        res.end();
      } // 'hang': never answer
    });
    const port = await listen(server);
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const probe: HealthProbe = { type: 'HTTP', port, path: '/', scheme: 'http', statuses: [] };
    // Generous where an answer is expected (the suite runs in parallel), short where none comes.
    const context = { sandbox: tmpdir(), env: {}, timeoutMs: 5000 };
    assert.deepEqual((await runProbe(probe, context)).message, 'status 503');
    mode = 'hang';
    const hung = await runProbe(probe, { ...context, timeoutMs: 100 });
    assert.equal(hung.ok, false);
    assert.match(hung.message ?? '', /no answer within 100 ms/);
    // A check that lists statuses accepts exactly those.
    mode = 'error';
    assert.equal((await runProbe({ ...probe, statuses: [503] }, context)).ok, true);
  });

  test('TCP: healthy while something listens, unhealthy after it goes', async () => {
    const server = createTcpServer((socket) => socket.end());
    const port = await listen(server);
    const { reports } = check(fastSpec({ type: 'TCP', port }));
    await until(() => reports.length === 1, 'healthy');
    assert.equal(reports[0]!.healthy, true);
    await new Promise((resolve) => server.close(resolve));
    await until(() => reports.length === 2, 'unhealthy');
    assert.equal(reports[1]!.healthy, false);
  });

  test('COMMAND: runs in the sandbox with the task environment; exit 0 is healthy', async () => {
    const sandbox = await mkdtemp(join(tmpdir(), 'drover-health-'));
    cleanups.push(() => rm(sandbox, { recursive: true, force: true }));
    await writeFile(join(sandbox, 'ok'), '');
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', WANT: 'ok' };
    const { reports } = check(fastSpec({ type: 'COMMAND', value: 'test -f "$WANT"', shell: true, arguments: [], environment: {} }, { consecutiveFailures: 1 }), sandbox, env);
    await until(() => reports.length === 1, 'healthy');
    assert.equal(reports[0]!.healthy, true);
    await rm(join(sandbox, 'ok'));
    await until(() => reports.length === 2, 'unhealthy');
    assert.match(reports[1]!.message, /exited with status 1/);
  });

  test('COMMAND: a command that outlives its timeout is killed and fails', async () => {
    const started = Date.now();
    const result = await runProbe({ type: 'COMMAND', value: 'sleep 5', shell: true, arguments: [], environment: {} }, { sandbox: tmpdir(), env: {}, timeoutMs: 100 });
    assert.equal(result.ok, false);
    assert.match(result.message ?? '', /did not finish within 100 ms/);
    assert.ok(Date.now() - started < 2000);
  });

  test('stop() ends checking: no probe and no report after it', async () => {
    const clock = new ManualClock();
    const reports: HealthReport[] = [];
    let probes = 0;
    const runProbe = async (): Promise<ProbeResult> => (probes++, { ok: false, durationMs: 0 });
    const checker = new HealthChecker({ spec: fastSpec({ type: 'TCP', port: 1 }, { consecutiveFailures: 1 }), sandbox: tmpdir(), env: {}, clock, onReport: (r) => reports.push(r), runProbe });
    checker.start();
    checker.stop();
    clock.advance(60_000); // two thousand intervals
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(probes, 0);
    assert.deepEqual(reports, []);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });
});
