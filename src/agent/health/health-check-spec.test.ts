import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHealthCheck } from './health-check-spec.ts';

function error(raw: unknown): string {
  const parsed = parseHealthCheck(raw);
  assert.equal(parsed.ok, false, `expected ${JSON.stringify(raw)} to be refused`);
  return parsed.ok ? '' : parsed.error;
}

describe('parseHealthCheck', () => {
  test('an HTTP check gets Mesos defaults', () => {
    const parsed = parseHealthCheck({ type: 'HTTP', http: { port: 8080 } });
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.spec, {
      probe: { type: 'HTTP', port: 8080, path: '/', scheme: 'http', statuses: [] },
      delayMs: 15_000,
      intervalMs: 10_000,
      timeoutMs: 20_000,
      consecutiveFailures: 3,
      gracePeriodMs: 10_000,
    });
  });

  test('TCP and COMMAND checks, with fields given', () => {
    const tcp = parseHealthCheck({ type: 'TCP', tcp: { port: 9000 }, interval_seconds: 0.5, timeout_seconds: 1, consecutive_failures: 1, grace_period_seconds: 0, delay_seconds: 0 });
    assert.ok(tcp.ok);
    assert.deepEqual(tcp.spec.probe, { type: 'TCP', port: 9000 });
    assert.equal(tcp.spec.intervalMs, 500);
    assert.equal(tcp.spec.consecutiveFailures, 1);
    const command = parseHealthCheck({ type: 'COMMAND', command: { value: 'test -f ok', environment: { variables: [{ name: 'X', value: '1' }] } } });
    assert.ok(command.ok);
    assert.deepEqual(command.spec.probe, { type: 'COMMAND', value: 'test -f ok', shell: true, arguments: [], environment: { X: '1' } });
  });

  test('the kind is inferred when `type` is missing (older Mesos JSON)', () => {
    const parsed = parseHealthCheck({ http: { port: 80, path: '/ping' } });
    assert.ok(parsed.ok);
    assert.equal(parsed.spec.probe.type, 'HTTP');
  });

  test('bad checks are refused with the field and the reason', () => {
    assert.match(error('nope'), /^Invalid health check: health_check must be an object/);
    assert.match(error({ type: 'GRPC' }), /type must be one of HTTP, TCP, COMMAND/);
    assert.match(error({ type: 'HTTP', http: {} }), /http\.port must be an integer in 1\.\.65535/);
    assert.match(error({ type: 'HTTP', http: { port: 70000 } }), /http\.port/);
    assert.match(error({ type: 'HTTP', http: { port: 80, path: 'health' } }), /http\.path must start with/);
    assert.match(error({ type: 'HTTP', http: { port: 80, scheme: 'ftp' } }), /http\.scheme/);
    assert.match(error({ type: 'TCP', tcp: { port: 80 }, interval_seconds: 0 }), /interval_seconds must be greater than 0/);
    assert.match(error({ type: 'TCP', tcp: { port: 80 }, timeout_seconds: -1 }), /timeout_seconds/);
    assert.match(error({ type: 'TCP', tcp: { port: 80 }, consecutive_failures: 0 }), /consecutive_failures/);
    assert.match(error({ type: 'TCP', tcp: { port: 80 }, delay_seconds: 'soon' }), /delay_seconds/);
    assert.match(error({ type: 'COMMAND', command: {} }), /command\.value is required/);
  });
});
