import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type VipTask, parseVipRange, vipAddressOf, vipTable } from './table.ts';

const range = parseVipRange('11.0.0.0/8');
if (typeof range === 'string') throw new Error(range);

function task(id: string, agentIp: string, port: number, labels: Record<string, string>, extra: Partial<VipTask> = {}): VipTask {
  return { taskId: id, state: 'TASK_RUNNING', agentIp, ports: [{ number: port, protocol: 'tcp', labels }], ...extra };
}

describe('vipTable', () => {
  it('balances a named VIP over the running tasks of every app that declares it', () => {
    const table = vipTable(
      [
        task('a1', '10.0.0.2', 31001, { VIP_0: '/acme:80' }),
        task('a2', '10.0.0.1', 31002, { VIP_0: '/acme:80' }),
        task('b1', '10.0.0.3', 31003, { VIP_0: '/ACME:80' }), // another app, same VIP
        task('c1', '10.0.0.3', 31004, { VIP_0: '10.1.2.3:5000' }),
      ],
      range,
    );
    assert.deepEqual(table.problems, []);
    const acme = table.entries.find((e) => e.names.includes('/acme'));
    assert.ok(acme);
    assert.equal(acme.port, 80);
    assert.equal(acme.protocol, 'tcp');
    assert.match(acme.ip, /^11\./);
    // sorted by address: stable across agents whatever order the tasks came in
    assert.deepEqual(acme.backends, [
      { ip: '10.0.0.1', port: 31002 },
      { ip: '10.0.0.2', port: 31001 },
      { ip: '10.0.0.3', port: 31003 },
    ]);
    const literal = table.entries.find((e) => e.ip === '10.1.2.3');
    assert.deepEqual(literal?.backends, [{ ip: '10.0.0.3', port: 31004 }]);
    assert.equal(vipAddressOf(table, '/acme'), acme.ip);
  });

  it('gives a name the same address whatever else is running (every agent computes it alone)', () => {
    const alone = vipTable([task('a', '10.0.0.1', 1, { VIP_0: '/web:80' })], range);
    const crowd = vipTable([...Array.from({ length: 50 }, (_, i) => task(`x${i}`, '10.0.0.9', 2 + i, { VIP_0: `/other${i}:80` })), task('a', '10.0.0.1', 1, { VIP_0: '/web:80' })].reverse(), range);
    assert.equal(vipAddressOf(alone, '/web'), vipAddressOf(crowd, '/web'));
  });

  it('keeps only running tasks whose health is not failing; a KILLING task has left', () => {
    const table = vipTable(
      [
        task('ok', '10.0.0.1', 1, { VIP_0: '/s:80' }),
        task('checked', '10.0.0.2', 2, { VIP_0: '/s:80' }, { healthy: true }),
        task('sick', '10.0.0.3', 3, { VIP_0: '/s:80' }, { healthy: false }),
        task('killing', '10.0.0.4', 4, { VIP_0: '/s:80' }, { state: 'TASK_KILLING' }),
        task('staging', '10.0.0.5', 5, { VIP_0: '/s:80' }, { state: 'TASK_STAGING' }),
      ],
      range,
    );
    assert.deepEqual(
      table.entries[0]?.backends.map((b) => b.port),
      [1, 2],
    );
  });

  it('keeps a VIP with no live backend (it refuses rather than vanishing)', () => {
    const table = vipTable([task('k', '10.0.0.4', 4, { VIP_0: '/s:80' }, { state: 'TASK_KILLING' })], range);
    assert.equal(table.entries.length, 1);
    assert.deepEqual(table.entries[0]?.backends, []);
  });

  it('reaches a CNI task at its container address; udp,tcp ports get both', () => {
    const t: VipTask = { taskId: 'c', state: 'TASK_RUNNING', agentIp: '10.0.0.1', containerIp: '172.16.0.5', ports: [{ number: 8080, protocol: 'udp,tcp', labels: { VIP_0: '/dns:53' } }] };
    const table = vipTable([t], range);
    assert.deepEqual(
      table.entries.map((e) => [e.protocol, e.backends]),
      [
        ['tcp', [{ ip: '172.16.0.5', port: 8080 }]],
        ['udp', [{ ip: '172.16.0.5', port: 8080 }]],
      ],
    );
  });

  it('reports bad labels and tasks without an agent address, and carries on', () => {
    const table = vipTable([task('bad', '10.0.0.1', 1, { VIP_0: 'nope' }), { taskId: 'noip', state: 'TASK_RUNNING', ports: [{ number: 2, protocol: 'tcp', labels: { VIP_0: '/n:80' } }] }], range);
    assert.deepEqual(
      table.problems.map((p) => [p.taskId, p.path]),
      [
        ['bad', '/discovery/ports/0/labels/VIP_0'],
        ['noip', '/discovery/ports/0'],
      ],
    );
    assert.equal(table.entries.length, 1);
  });

  it('moves a name only when another holds the same address, port and protocol', () => {
    // A /30 range has two usable addresses: four names on one port need probing, and fit in twos
    // only if their ports differ. Same input in any order → same answer.
    const tiny = parseVipRange('10.9.9.0/30');
    if (typeof tiny === 'string') throw new Error(tiny);
    const tasks = [task('a', '10.0.0.1', 1, { VIP_0: '/a:80' }), task('b', '10.0.0.1', 2, { VIP_0: '/b:80' }), task('c', '10.0.0.1', 3, { VIP_0: '/c:81' })];
    const one = vipTable(tasks, tiny);
    const two = vipTable([...tasks].reverse(), tiny);
    assert.deepEqual(one, two);
    const a = vipAddressOf(one, '/a');
    const b = vipAddressOf(one, '/b');
    assert.ok(a && b && a !== b, 'two names on port 80 cannot share an address');
    assert.deepEqual(new Set(one.entries.map((e) => e.ip)), new Set(['10.9.9.1', '10.9.9.2']));
  });

  it('validates the range', () => {
    assert.match(String(parseVipRange('11.0.0.1/8')), /host bits/);
    assert.match(String(parseVipRange('11.0.0.0/31')), /n in 8\.\.30/);
    assert.match(String(parseVipRange('nonsense')), /CIDR/);
  });
});
