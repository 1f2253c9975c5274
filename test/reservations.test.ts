/**
 * Dynamic reservations and persistent volumes with real processes: a `drover master` on SQLite,
 * a `drover agent` (linux containerizer when it can), a v1 framework on the HTTP API, the
 * operator's `POST /api/v1`.
 *
 * - RESERVE + CREATE + LAUNCH in one ACCEPT (both JSON forms of a reservation): the task runs with
 *   its volume bind-mounted at `data`, the data lands in `<work dir>/volumes/roles/<role>/<id>`;
 *   offers list the reservation with its principal and labels, and the volume only while unused.
 * - Refused operations change nothing and are reported (UPDATE_OPERATION_STATUS OPERATION_ERROR).
 * - A task killed, its replacement on the same volume reads what the first wrote.
 * - Operator RESERVE_RESOURCES / UNRESERVE_RESOURCES / CREATE_VOLUMES / DESTROY_VOLUMES: 202, and
 *   400 (with the field path) or 409 (not available, in use) with Mesos' meaning.
 * - A master restart keeps the reservations (from the store); an agent kill -9 and restart keeps
 *   the volume and its data (from the agent's checkpoint); DESTROY deletes the data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { freePort } from '../devkit/etcd.ts';
import { TestScheduler } from './support/scheduler.ts';
import { httpCall } from './support/http.ts';
import type { OfferJson } from '../src/frameworks/sdk/scheduler.ts';

const ROLE = 'eng';
const PRINCIPAL = 'eng-principal';
/** The principal of the test's admin token (operator calls must name it). */
const ADMIN = 'bootstrap-admin';
const LABELS = { labels: [{ key: 'owner', value: 'reservations-test' }] };

const root = await mkdtemp(join(tmpdir(), 'drover-reservations-'));
const workDir = join(root, 'agent');
let port: number;
let master: DroverProcess;
let agent: DroverProcess;
let fw: TestScheduler;
let agentId: string;

function startMaster(): Promise<DroverProcess> {
  return startDrover([
    'master',
    '--no-services',
    '--no-jobs',
    '--port',
    String(port),
    '--store',
    `sqlite:${join(root, 'master.db')}`,
    '--allocation-interval',
    '0.2',
    '--agent-heartbeat-interval',
    '0.5',
    '--max-missed-heartbeats',
    '20',
  ]);
}

function startAgent(): Promise<DroverProcess> {
  return startDrover(['agent', '--master', master.url, '--port', '0', '--work-dir', workDir, '--hostname', `res-${process.pid}`, '--resources', 'cpus:4;mem:2048;disk:2048']);
}

/** A dynamically reserved scalar in the refined form (`reservations`). */
function reserved(name: string, value: number, principal = PRINCIPAL, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, type: 'SCALAR', scalar: { value }, reservations: [{ type: 'DYNAMIC', role: ROLE, principal, labels: LABELS }], ...extra };
}

/** The same in the pre-refinement form (`role` + `reservation`). */
function reservedOld(name: string, value: number, principal = PRINCIPAL): Record<string, unknown> {
  return { name, type: 'SCALAR', scalar: { value }, role: ROLE, reservation: { principal, labels: LABELS } };
}

function volume(id: string, size: number, principal = PRINCIPAL, path = 'data'): Record<string, unknown> {
  return reserved('disk', size, principal, { disk: { persistence: { id, principal }, volume: { container_path: path, mode: 'RW' } } });
}

const unreserved = (name: string, value: number) => ({ name, type: 'SCALAR', scalar: { value } });

type ResourceView = {
  name: string;
  scalar?: { value: number };
  role?: string;
  reservation?: { principal?: string; labels?: unknown };
  reservations?: unknown[];
  disk?: { persistence?: { id: string } };
};

/** The next offer whose resources pass `pred` (others are declined at once). */
async function nextOffer(pred: (resources: ResourceView[]) => boolean, scheduler = fw): Promise<OfferJson> {
  for (;;) {
    for (const offer of await scheduler.offers(60_000)) {
      if (pred(offer.resources as ResourceView[])) return offer;
      await scheduler.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 0.01 } } });
    }
  }
}

async function accept(offer: OfferJson, operations: unknown[], scheduler = fw): Promise<void> {
  await scheduler.call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: operations as never, filters: { refuse_seconds: 0.01 } } });
}

async function operation(id: string, scheduler = fw): Promise<{ state: string; message?: string }> {
  const e = await scheduler.next('UPDATE_OPERATION_STATUS', (u) => u.update_operation_status.status.operation_id?.value === id, 60_000);
  return e.update_operation_status.status;
}

function task(offer: OfferJson, id: string, cmd: string, resources: unknown[]): Record<string, unknown> {
  return { name: id, task_id: { value: id }, agent_id: offer.agent_id, resources, command: { value: cmd, shell: true } };
}

async function isRunning(id: string, scheduler = fw): Promise<void> {
  const e = await scheduler.next('UPDATE', (u) => u.update.status.task_id.value === id && u.update.status.state !== 'TASK_STARTING', 60_000);
  assert.equal(`${e.update.status.state} ${e.update.status.message ?? ''}`.trim(), 'TASK_RUNNING', id);
}

async function masterLedger(): Promise<ResourceView[] | undefined> {
  const slaves = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ id: string; reserved_resources_full?: ResourceView[] }> };
  return slaves.slaves.find((s) => s.id === agentId)?.reserved_resources_full;
}

function volumeDir(id: string): string {
  return join(workDir, 'volumes', 'roles', ROLE, id);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function operator(body: unknown) {
  return httpCall(master.url, 'POST', '/api/v1', body);
}

const hasVolume = (id: string) => (rs: ResourceView[]) => rs.some((r) => r.disk?.persistence?.id === id);
const scalar = (rs: ResourceView[], name: string, role: string | undefined) =>
  rs.filter((r) => r.name === name && (r.role ?? '*') === (role ?? '*') && r.disk === undefined).reduce((s, r) => s + (r.scalar?.value ?? 0), 0);

before(async () => {
  port = await freePort();
  master = await startMaster();
  agent = await startAgent();
  fw = await TestScheduler.subscribe(master.url, {
    name: 'reservations',
    roles: [ROLE],
    principal: PRINCIPAL,
    failover_timeout: 3600,
    capabilities: [{ type: 'MULTI_ROLE' }, { type: 'RESERVATION_REFINEMENT' }],
  });
});

after(async () => {
  await fw?.close().catch(() => undefined);
  await agent?.stop('SIGKILL');
  // The tasks of a killed agent live on: kill every process whose sandbox is under root.
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(root)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await master?.stop();
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(`${root}/`)) spawnSync('umount', ['-l', mp]);
  }
  await rm(root, { recursive: true, force: true });
});

test('RESERVE, CREATE and LAUNCH in one ACCEPT: the task writes into its persistent volume', { timeout: 180_000 }, async () => {
  const offer = await nextOffer((rs) => scalar(rs, 'cpus', '*') >= 2);
  agentId = offer.agent_id.value;
  await accept(offer, [
    // Both JSON forms of one reservation (same role, principal, labels): they add up.
    { type: 'RESERVE', id: { value: 'r1' }, reserve: { resources: [reserved('cpus', 1), reservedOld('disk', 512)] } },
    { type: 'CREATE', id: { value: 'c1' }, create: { volumes: [volume('vol1', 256)] } },
    { type: 'LAUNCH', launch: { task_infos: [task(offer, 'writer-1', 'echo first >> data/log; exec sleep 600', [reserved('cpus', 0.5), unreserved('mem', 32), volume('vol1', 256)])] } },
  ]);
  assert.equal((await operation('r1')).state, 'OPERATION_FINISHED');
  assert.equal((await operation('c1')).state, 'OPERATION_FINISHED');
  await isRunning('writer-1');
  const log = await eventually(async () => (await readFile(join(volumeDir('vol1'), 'log'), 'utf8').catch(() => '')) || undefined, 'the task to write into its volume', 60_000);
  assert.equal(log, 'first\n');
  // The master's ledger: cpus 1 and disk 256 reserved, and the 256 MB volume.
  const ledger = (await masterLedger()) ?? [];
  assert.equal(scalar(ledger, 'cpus', ROLE), 1);
  assert.equal(scalar(ledger, 'disk', ROLE), 256);
  assert.ok(hasVolume('vol1')(ledger), JSON.stringify(ledger));
  // The next offer lists the free part of the reservation with its principal and labels, not the volume in use.
  const next = await nextOffer((rs) => scalar(rs, 'cpus', ROLE) > 0);
  const rs = next.resources as ResourceView[];
  assert.equal(scalar(rs, 'cpus', ROLE), 0.5);
  const cpus = rs.find((r) => r.name === 'cpus' && r.role === ROLE)!;
  assert.deepEqual(cpus.reservation, { principal: PRINCIPAL, labels: LABELS });
  assert.deepEqual(cpus.reservations, [{ type: 'DYNAMIC', role: ROLE, principal: PRINCIPAL, labels: LABELS }]);
  assert.equal(hasVolume('vol1')(rs), false, 'a volume in use is in no offer');
  await fw.call({ type: 'DECLINE', decline: { offer_ids: [next.id], filters: { refuse_seconds: 0.01 } } });
});

test('refused operations change nothing and are reported to the framework', { timeout: 180_000 }, async () => {
  const before = JSON.stringify(await masterLedger());
  const offer = await nextOffer((rs) => scalar(rs, 'cpus', ROLE) > 0);
  await accept(offer, [
    { type: 'RESERVE', id: { value: 'e-principal' }, reserve: { resources: [reserved('mem', 64, 'someone-else')] } },
    { type: 'RESERVE', id: { value: 'e-role' }, reserve: { resources: [{ ...unreserved('mem', 64), reservations: [{ type: 'DYNAMIC', role: 'other', principal: PRINCIPAL }] }] } },
    { type: 'RESERVE', id: { value: 'e-plain' }, reserve: { resources: [unreserved('mem', 64)] } },
    { type: 'DESTROY', id: { value: 'e-in-use' }, destroy: { volumes: [volume('vol1', 256)] } },
    { type: 'UNRESERVE', id: { value: 'e-volume-disk' }, unreserve: { resources: [reserved('disk', 512)] } },
    { type: 'CREATE', id: { value: 'e-too-big' }, create: { volumes: [volume('vol2', 1000)] } },
    { type: 'CREATE', id: { value: 'e-path' }, create: { volumes: [volume('vol3', 10, PRINCIPAL, '../escape')] } },
    { type: 'LAUNCH', launch: { task_infos: [task(offer, 'thief', 'sleep 1', [unreserved('cpus', 0.1), unreserved('mem', 32), volume('vol1', 256)])] } },
  ]);
  const expect: Array<[string, RegExp]> = [
    ['e-principal', /does not match the reservation's principal/],
    ['e-role', /not subscribed/],
    ['e-plain', /not dynamically reserved/],
    ['e-in-use', /in use by a task/],
    ['e-volume-disk', /holds persistent volume\(s\) 'vol1'; DESTROY them first/],
    ['e-too-big', /not available as reserved disk/],
    ['e-path', /container_path/],
  ];
  for (const [id, message] of expect) {
    const s = await operation(id);
    assert.equal(s.state, 'OPERATION_ERROR', id);
    assert.match(s.message ?? '', message, id);
  }
  const thief = await fw.status('thief', 'TASK_ERROR', 60_000);
  assert.match(thief.message ?? '', /Persistent volume 'vol1' is in use by another task/);
  assert.equal(JSON.stringify(await masterLedger()), before, 'the ledger is unchanged');
});

test("a killed task's replacement on the same volume reads what it wrote", { timeout: 180_000 }, async () => {
  await fw.call({ type: 'KILL', kill: { task_id: { value: 'writer-1' }, agent_id: { value: agentId } } });
  await fw.status('writer-1', 'TASK_KILLED', 60_000);
  // Free again: the volume is offered, with its persistence id.
  const offer = await nextOffer(hasVolume('vol1'));
  await accept(offer, [
    {
      type: 'LAUNCH',
      launch: { task_infos: [task(offer, 'writer-2', 'cat data/log > seen; echo second >> data/log; exec sleep 600', [reserved('cpus', 0.5), unreserved('mem', 32), volume('vol1', 256)])] },
    },
  ]);
  await isRunning('writer-2');
  const log = await eventually(
    async () => {
      const text = await readFile(join(volumeDir('vol1'), 'log'), 'utf8').catch(() => '');
      return text.includes('second') ? text : undefined;
    },
    'the replacement to append to the volume',
    60_000,
  );
  assert.equal(log, 'first\nsecond\n');
});

test('operator RESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES, UNRESERVE_RESOURCES and their errors', { timeout: 180_000 }, async () => {
  const agentRef = { value: agentId };
  // Errors first: each leaves the ledger as it was.
  const before = JSON.stringify(await masterLedger());
  const unknown = await operator({ type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: { value: 'no-such-agent' }, resources: [reserved('mem', 64, ADMIN)] } });
  assert.equal(unknown.status, 400);
  assert.equal((unknown.body as { details: Array<{ path: string }> }).details[0]!.path, '/reserve_resources/agent_id/value');
  const wrongPrincipal = await operator({ type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: agentRef, resources: [reserved('mem', 64, 'someone-else')] } });
  assert.equal(wrongPrincipal.status, 400);
  assert.match(JSON.stringify(wrongPrincipal.body), /principal 'bootstrap-admin'/);
  const tooMuch = await operator({ type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: agentRef, resources: [reserved('mem', 999_999, ADMIN)] } });
  assert.equal(tooMuch.status, 409);
  const missing = await operator({ type: 'RESERVE_RESOURCES' });
  assert.equal(missing.status, 400);
  assert.equal((missing.body as { details: Array<{ path: string }> }).details[0]!.path, '/reserve_resources');
  const malformed = await operator({ type: 'CREATE_VOLUMES', create_volumes: { agent_id: agentRef, volumes: [{ name: 'disk', type: 'SCALAR', scalar: { value: 'lots' } }] } });
  assert.equal(malformed.status, 400);
  assert.match(JSON.stringify(malformed.body), /\/create_volumes\/volumes\/0\/scalar\/value/);
  const inUse = await operator({ type: 'DESTROY_VOLUMES', destroy_volumes: { agent_id: agentRef, volumes: [volume('vol1', 256)] } });
  assert.equal(inUse.status, 409);
  assert.match(JSON.stringify(inUse.body), /in use by a task/);
  const notReserved = await operator({ type: 'UNRESERVE_RESOURCES', unreserve_resources: { agent_id: agentRef, resources: [reserved('mem', 64, ADMIN)] } });
  assert.equal(notReserved.status, 409, JSON.stringify(notReserved.body));
  assert.equal(JSON.stringify(await masterLedger()), before);

  // Reserve memory and disk, make a volume of the disk, destroy it, unreserve both.
  const reserve = await operator({ type: 'RESERVE_RESOURCES', reserve_resources: { agent_id: agentRef, resources: [reserved('mem', 64, ADMIN), reserved('disk', 128, ADMIN)] } });
  assert.equal(reserve.status, 202, JSON.stringify(reserve.body));
  const afterReserve = (await masterLedger()) ?? [];
  assert.equal(scalar(afterReserve, 'mem', ROLE), 64);
  const create = await operator({ type: 'CREATE_VOLUMES', create_volumes: { agent_id: agentRef, volumes: [volume('vol-op', 128, ADMIN)] } });
  assert.equal(create.status, 202, JSON.stringify(create.body));
  await eventually(() => exists(volumeDir('vol-op')), 'the agent to create the volume directory', 60_000);
  const again = await operator({ type: 'CREATE_VOLUMES', create_volumes: { agent_id: agentRef, volumes: [volume('vol-op', 128, ADMIN)] } });
  assert.equal(again.status, 409, 'a persistence id is unique per role on an agent');
  const destroy = await operator({ type: 'DESTROY_VOLUMES', destroy_volumes: { agent_id: agentRef, volumes: [volume('vol-op', 128, ADMIN)] } });
  assert.equal(destroy.status, 202, JSON.stringify(destroy.body));
  await eventually(async () => !(await exists(volumeDir('vol-op'))), 'the agent to delete the destroyed volume', 60_000);
  const unreserve = await operator({ type: 'UNRESERVE_RESOURCES', unreserve_resources: { agent_id: agentRef, resources: [reserved('mem', 64, ADMIN), reserved('disk', 128, ADMIN)] } });
  assert.equal(unreserve.status, 202, JSON.stringify(unreserve.body));
  assert.equal(JSON.stringify(await masterLedger()), before, 'back to what it was');
});

test('a master restart keeps the reservations and the volume (the store), the task keeps running', { timeout: 240_000 }, async () => {
  const before = await masterLedger();
  assert.ok(before !== undefined && hasVolume('vol1')(before));
  const frameworkId = fw.frameworkId;
  await fw.close().catch(() => undefined);
  await master.stop();
  master = await startMaster();
  await eventually(
    async () => {
      const ledger = await masterLedger().catch(() => undefined);
      return ledger !== undefined ? ledger : undefined;
    },
    'the restarted master to know the agent and its reservations',
    120_000,
  );
  assert.deepEqual(await masterLedger(), before);
  // The framework comes back (failover) and still owns writer-2; the reservation is offered again.
  fw = await TestScheduler.subscribe(master.url, {
    id: { value: frameworkId },
    name: 'reservations',
    roles: [ROLE],
    principal: PRINCIPAL,
    failover_timeout: 3600,
    capabilities: [{ type: 'MULTI_ROLE' }, { type: 'RESERVATION_REFINEMENT' }],
  });
  const offer = await nextOffer((rs) => scalar(rs, 'cpus', ROLE) > 0);
  const cpus = (offer.resources as ResourceView[]).find((r) => r.name === 'cpus' && r.role === ROLE)!;
  assert.deepEqual(cpus.reservation, { principal: PRINCIPAL, labels: LABELS });
  await fw.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 0.01 } } });
  const tasks = (await (await fetch(`${agent.url}/state`)).json()) as { tasks: Array<{ id: string; state: string }> };
  assert.equal(tasks.tasks.find((t) => t.id === 'writer-2')?.state, 'TASK_RUNNING');
});

test('an agent kill -9 and restart keeps the volume and its data; DESTROY deletes them', { timeout: 240_000 }, async () => {
  await agent.stop('SIGKILL');
  agent = await startAgent();
  const state = await eventually(
    async () => {
      const s = (await (await fetch(`${agent.url}/state`)).json()) as { registered: boolean; reserved_resources_full: ResourceView[]; tasks: Array<{ id: string; state: string }> };
      return s.registered ? s : undefined;
    },
    'the restarted agent to register',
    120_000,
  );
  assert.ok(hasVolume('vol1')(state.reserved_resources_full), 'the agent kept its checkpointed resources');
  assert.equal(await readFile(join(volumeDir('vol1'), 'log'), 'utf8'), 'first\nsecond\n');
  assert.equal(state.tasks.find((t) => t.id === 'writer-2')?.state, 'TASK_RUNNING');

  await fw.call({ type: 'KILL', kill: { task_id: { value: 'writer-2' }, agent_id: { value: agentId } } });
  await fw.status('writer-2', 'TASK_KILLED', 60_000);
  const offer = await nextOffer(hasVolume('vol1'));
  await accept(offer, [
    { type: 'DESTROY', id: { value: 'd1' }, destroy: { volumes: [volume('vol1', 256)] } },
    { type: 'UNRESERVE', id: { value: 'u1' }, unreserve: { resources: [reserved('cpus', 1), reserved('disk', 512)] } },
  ]);
  assert.equal((await operation('d1')).state, 'OPERATION_FINISHED');
  assert.equal((await operation('u1')).state, 'OPERATION_FINISHED');
  await eventually(async () => !(await exists(volumeDir('vol1'))), 'the volume directory to be deleted', 60_000);
  assert.equal(await masterLedger(), undefined, 'nothing reserved any more');
  const slaves = (await (await fetch(`${master.url}/master/state`)).json()) as { slaves: Array<{ id: string; unreserved_resources: { cpus: number; disk: number } }> };
  const unreservedNow = slaves.slaves.find((s) => s.id === agentId)!.unreserved_resources;
  assert.deepEqual([unreservedNow.cpus, unreservedNow.disk], [4, 2048], 'all of the agent is unreserved again');
});
