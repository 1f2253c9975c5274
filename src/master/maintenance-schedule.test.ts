import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../store/open.ts';
import { isDroverError } from '../errors/errors.ts';
import { MaintenanceSchedule, type MachineId } from './maintenance-schedule.ts';

const window = (...hosts: string[]) => ({ machine_ids: hosts.map((hostname) => ({ hostname })), unavailability: { start: { nanoseconds: 1e18 } } });

async function setup() {
  const store = await openStore('memory:');
  const calls: string[] = [];
  const agents: Record<string, string[]> = { 'host-a': ['agent-a'] };
  const host = {
    agentsOn: (m: MachineId) => agents[m.hostname?.toLowerCase() ?? ''] ?? [],
    down: async (id: string) => void calls.push(`down ${id}`),
    up: async (id: string) => void calls.push(`up ${id}`),
  };
  return { store, calls, host, schedule: new MaintenanceSchedule(store, host) };
}

test('scheduled machines drain; down and up follow Mesos’ order, and the agents on them follow', async () => {
  const { store, calls, host, schedule } = await setup();
  await schedule.update({ windows: [window('host-a', 'host-b')] });
  assert.deepEqual(
    (await schedule.status()).draining_machines.map((m) => m.id.hostname),
    ['host-a', 'host-b'],
  );
  // Up before down: refused, nothing changes.
  await assert.rejects(schedule.up([{ hostname: 'host-a' }]), (e) => isDroverError(e, 'MALFORMED') && /not in DOWN mode/.test((e as Error).message));
  await schedule.down([{ hostname: 'HOST-A' }]);
  assert.deepEqual(calls, ['down agent-a']);
  assert.deepEqual((await schedule.status()).down_machines, [{ hostname: 'HOST-A' }]);
  // A down machine cannot leave the schedule.
  await assert.rejects(schedule.update({ windows: [window('host-b')] }), /must remain in the schedule/);
  // Another master on the same store reads the same state.
  const again = new MaintenanceSchedule(store, host);
  assert.equal((await again.status()).down_machines.length, 1);
  await schedule.up([{ hostname: 'host-a' }]);
  assert.deepEqual(calls, ['down agent-a', 'up agent-a']);
  // Up takes the machine out of the schedule; its window keeps the others.
  assert.deepEqual(
    (await schedule.get()).windows.map((w) => w.machine_ids.map((m) => m.hostname)),
    [['host-b']],
  );
  assert.deepEqual((await schedule.status()).down_machines, []);
});

test('a bad schedule is refused with the path of the field, and nothing changes', async () => {
  const { schedule } = await setup();
  await schedule.update({ windows: [window('keep')] });
  const refused = async (windows: unknown[], path: string) =>
    assert.rejects(schedule.update({ windows } as never), (e) => isDroverError(e, 'MALFORMED') && JSON.stringify((e as { details: unknown }).details).includes(path));
  await refused([window('x', 'X')], '/windows/0/machine_ids/1');
  await refused([window('x'), window('x')], '/windows/1/machine_ids/0');
  await refused([{ machine_ids: [], unavailability: { start: { nanoseconds: 0 } } }], '/windows/0/machine_ids');
  await refused([{ machine_ids: [{}], unavailability: { start: { nanoseconds: 0 } } }], '/windows/0/machine_ids/0');
  await assert.rejects(schedule.down([{ hostname: 'never-scheduled' }]), /not in DRAINING mode/);
  assert.deepEqual(
    (await schedule.get()).windows.map((w) => w.machine_ids[0]?.hostname),
    ['keep'],
  );
});
