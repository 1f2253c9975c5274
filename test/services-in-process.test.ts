/**
 * The services framework on the in-process transport, with the transport's event check on: every
 * event the master hands over is the master's own object (no JSON copy), deep-frozen here, so a
 * framework or master write to a shared event throws instead of silently changing the other
 * side's state. Hollow agents (the simulator's) speak the real agent protocol over HTTP.
 * Also: acknowledgements go out batched (acknowledgeAll) and every update is still acknowledged.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { inProcessTransport } from '../src/cluster/in-process-master.ts';
import { freezePlainJson } from '../src/master/stream.ts';
import { ServicesFramework } from '../src/frameworks/services/services.ts';
import { parseApp } from '../src/frameworks/services/app.ts';
import { HollowAgent } from '../sim/hollow-agent.ts';
import { eventually } from '../devkit/process.ts';
import { testAuth } from '../devkit/credentials.ts';

let server: MasterServer;
const agents: HollowAgent[] = [];
let services: ServicesFramework;
/** Warnings and errors the services framework logged (a failed stream or call lands here). */
const complaints: Array<{ msg: string; error?: unknown }> = [];

before(async () => {
  server = await startMasterServer({
    store: createMemoryStore(),
    logger: silentLogger(),
    port: 0,
    host: '127.0.0.1',
    services: false,
    jobs: false,
    ui: false,
    allocationIntervalMs: 100,
    auth: testAuth(),
  });
  for (let i = 0; i < 3; i++) {
    const agent = new HollowAgent({
      masterUrl: server.url,
      hostname: `hollow-${i}`,
      resources: Resources.parse('cpus:4;mem:4096;ports:[31000-31100]'),
      attributes: [{ name: 'rack', type: 'TEXT', text: { value: `r${i}` } }],
      behaviour: { runningAfterMs: 20 },
      logger: silentLogger(),
    });
    agent.start();
    agents.push(agent);
  }
  await eventually(() => agents.every((a) => a.registered), 'three hollow agents registered');
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) complaints.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  services = new ServicesFramework({
    transport: inProcessTransport(server.master, { checkEvents: true }),
    store: createMemoryStore(),
    logger: pino({ level: 'warn' }, sink),
  });
  await services.start();
});

after(async () => {
  await services.stop();
  for (const a of agents) await a.stop();
  await server.close();
});

const stats = () =>
  agents
    .map((a) => a.stats)
    .reduce((sum, s) => ({ acknowledged: sum.acknowledged + s.acknowledged, unacknowledged: sum.unacknowledged + s.unacknowledged, updatesSent: sum.updatesSent + s.updatesSent }), {
      acknowledged: 0,
      unacknowledged: 0,
      updatesSent: 0,
    });

test('launch, scale down and reconcile on frozen events; every update acknowledged', { timeout: 120_000 }, async () => {
  await services.putApp(parseApp({ id: '/web', cmd: 'sleep 300', cpus: 0.1, mem: 32, instances: 30, portDefinitions: [{ port: 0 }], constraints: [['rack', 'GROUP_BY']] }, new Date()));
  await eventually(() => services.instancesOf('/web').filter((i) => i.state === 'TASK_RUNNING').length === 30, '30 running instances', 60_000);
  // Each instance: TASK_STARTING and TASK_RUNNING, both acknowledged (in batches).
  await eventually(() => stats().acknowledged === 60 && stats().unacknowledged === 0, 'all 60 updates acknowledged', 60_000);

  const victims = services
    .instancesOf('/web')
    .slice(0, 10)
    .map((i) => i.taskId);
  await services.killTasks(victims, true);
  await eventually(() => services.instancesOf('/web').length === 20, 'scaled down to 20', 60_000);
  // Exactly the ten named were killed (not ten more by age, relaunched after).
  assert.equal(
    agents.reduce((n, a) => n + a.stats.killed, 0),
    10,
  );
  assert.ok(victims.every((id) => !services.instances.has(id)));
  await eventually(() => stats().acknowledged === 70 && stats().unacknowledged === 0, 'the 10 TASK_KILLED acknowledged', 60_000).catch((e: Error) =>
    assert.fail(`${e.message}: ${JSON.stringify(stats())} ${JSON.stringify(agents.map((a) => a.stats))}`),
  );

  // An explicit reconciliation answers every instance with a fresh (frozen) status.
  (services as unknown as { rounds: { round(full: boolean): void } }).rounds.round(true);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(services.instancesOf('/web').filter((i) => i.state === 'TASK_RUNNING').length, 20);

  assert.deepEqual(
    complaints.map((c) => c.msg),
    [],
    `the framework logged no failed stream or call: ${JSON.stringify(complaints)}`,
  );
  // The master's own task state is intact: 20 running tasks of the framework.
  const running = [...server.master.tasks.values()].filter((t) => t.state === 'TASK_RUNNING');
  assert.equal(running.length, 20);
});

test('with checkEvents, what a framework receives is frozen: writing to it throws', async () => {
  const connection = await inProcessTransport(server.master, { checkEvents: true }).subscribe({ user: 'root', name: 'frozen-probe', roles: ['*'] });
  await connection.call({ type: 'REVIVE', revive: {} });
  const iterator = connection.events()[Symbol.asyncIterator]();
  let event;
  do event = (await iterator.next()).value;
  while (event?.type !== 'OFFERS');
  const offer = event.offers.offers[0]!;
  assert.ok(Object.isFrozen(event) && Object.isFrozen(offer) && Object.isFrozen(offer.resources));
  assert.throws(() => {
    (offer as { hostname: string }).hostname = 'elsewhere';
  }, TypeError);
  await connection.close();
});

test('acknowledgeAll tries every acknowledgement and rejects with the first refusal', async () => {
  const connection = await inProcessTransport(server.master).subscribe({ user: 'root', name: 'ack-probe' });
  assert.ok(connection.acknowledgeAll);
  await assert.rejects(
    connection.acknowledgeAll([
      { agent_id: { value: 'no-such-agent' }, task_id: { value: 't1' }, uuid: 'AAAA' },
      { agent_id: { value: agents[0]!.agentId! }, task_id: { value: 't2' }, uuid: 'not base64!' },
    ]),
    /Unknown agent no-such-agent/,
  );
  await connection.close();
});

test('freezePlainJson refuses what JSON would change', () => {
  assert.throws(() => freezePlainJson({ at: new Date() }, 'event'), /event\.at is a Date/);
  assert.throws(() => freezePlainJson({ n: [1, Number.NaN] }, 'event'), /event\.n\[1\] is NaN/);
  assert.throws(() => freezePlainJson({ m: new Map() }, 'event'), /event\.m is a Map/);
  const plain = { a: [{ b: 1 }], c: null, d: undefined };
  freezePlainJson(plain, 'event');
  assert.ok(Object.isFrozen(plain.a[0]));
});
