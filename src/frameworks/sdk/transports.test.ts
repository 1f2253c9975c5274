/**
 * The SDK's two transports behave the same against a real master: same SUBSCRIBED, same
 * refusals, same failover semantics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMasterServer, type MasterServer } from '../../cluster/master.ts';
import { silentLogger } from '../../log/index.ts';
import { createMemoryStore } from '../../store/memory/memory-store.ts';
import { testAuth } from '../../../devkit/credentials.ts';
import { HttpSchedulerTransport } from './http-transport.ts';
import { inProcessTransport } from '../../cluster/in-process-master.ts';
import type { SchedulerTransport } from './scheduler.ts';

let server: MasterServer;

before(async () => {
  server = await startMasterServer({ store: createMemoryStore(), logger: silentLogger(), port: 0, host: '127.0.0.1', services: false, auth: testAuth() });
});
after(() => server.close());

const transports: Array<[string, () => SchedulerTransport]> = [
  ['http', () => new HttpSchedulerTransport(server.url)],
  ['in-process', () => inProcessTransport(server.master)],
];

for (const [name, make] of transports) {
  describe(`${name} transport`, () => {
    test('subscribes, appears in the master, and its calls are accepted', async () => {
      const connection = await make().subscribe({ user: 'root', name: `sdk-${name}`, failover_timeout: 60 });
      assert.match(connection.frameworkId, /-\d{4}$/);
      const framework = server.master.frameworks.get(connection.frameworkId);
      assert.equal(framework?.info.name, `sdk-${name}`);
      await connection.call({ type: 'SUPPRESS', suppress: {} });
      assert.ok(framework?.suppressedRoles.has('*'));
      await connection.call({ type: 'REVIVE', revive: {} });
      assert.equal(framework?.suppressedRoles.size, 0);
      await connection.close();
    });

    test('an invalid call is refused with the path of the problem', async () => {
      const connection = await make().subscribe({ user: 'root', name: `sdk-bad-${name}` });
      await assert.rejects(connection.call({ type: 'KILL' }), (e: Error & { details?: Array<{ path: string }> }) => /kill/.test(e.message) && e.details?.[0]?.path === '/kill');
      await connection.close();
    });

    test('re-subscribing with the id fails over onto the new connection', async () => {
      const first = await make().subscribe({ user: 'root', name: `sdk-fo-${name}`, failover_timeout: 60 });
      const second = await make().subscribe({ user: 'root', name: `sdk-fo-${name}`, failover_timeout: 60, id: { value: first.frameworkId } });
      assert.equal(second.frameworkId, first.frameworkId);
      // The old connection is told and closed; calls on it are refused.
      const events = [];
      for await (const event of first.events()) events.push(event.type);
      assert.deepEqual(events, ['ERROR']);
      await assert.rejects(first.call({ type: 'REVIVE', revive: {} }), /didn't match|not subscribed/);
      await second.close();
    });
  });
}

test('EventQueue: FIFO across many pushes and takes, interleaved, with waiters', async () => {
  const { EventQueue } = await import('./event-queue.ts');
  const q = new EventQueue<number>();
  const got: number[] = [];
  let pushed = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100 + round * 37; i++) q.push(pushed++);
    for (let i = 0; i < 90 + round * 30; i++) got.push((await q.next()).value as number);
  }
  while (q.size > 0) got.push((await q.next()).value as number);
  const waiting = q.next();
  q.push(pushed++);
  got.push((await waiting).value as number);
  q.end();
  assert.deepEqual(
    got,
    Array.from({ length: pushed }, (_, i) => i),
  );
  assert.equal((await q.next()).done, true);
});
