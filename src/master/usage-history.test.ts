import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuRate, Ring, UsageHistory, type ReportedUsage } from './usage-history.ts';

const ALLOC = () => ({ cpusTotal: 4, cpusAllocated: 1.5, memTotalMb: 4096, memAllocatedMb: 512 });
const report = (task: string, ts: number, cpuSecs: number, mem: number): ReportedUsage => ({
  framework_id: 'f',
  task_id: task,
  statistics: { timestamp: ts, cpus_user_time_secs: cpuSecs, cpus_system_time_secs: 0, mem_total_bytes: mem },
});
const appOf = (taskId: string): string => `/${taskId.split('.')[0]}`;

describe('Ring', () => {
  test('keeps the newest `capacity` points in order; a point in the same bucket replaces the last', () => {
    const ring = new Ring(3, ['v']);
    for (let i = 0; i < 5; i++) ring.put(i * 1000, 1000, { v: i });
    assert.deepEqual(ring.toSeries(), { t: [2000, 3000, 4000], v: [2, 3, 4] });
    ring.put(4500, 1000, { v: 9 });
    assert.deepEqual(ring.toSeries(), { t: [2000, 3000, 4500], v: [2, 3, 9] });
  });
});

describe('UsageHistory', () => {
  test('CPU cores from consecutive counters; sums per agent, app and cluster; allocation against capacity', () => {
    const h = new UsageHistory({ bucketMs: 1000, capacity: 10, appOf });
    // t=0: first reports, no rate yet. t=1s: web.1 used 0.5 s of CPU in 1 s, web.2 1 s: 1.5 cores for /web.
    h.record('a1', 0, [report('web.1', 0, 10, 100), report('web.2', 0, 20, 200)], ALLOC);
    h.record('a2', 0, [report('db.1', 0, 0, 1000)], ALLOC);
    h.record('a1', 1000, [report('web.1', 1, 10.5, 110), report('web.2', 1, 21, 210)], ALLOC);
    h.record('a2', 1000, [report('db.1', 1, 0.25, 1000)], ALLOC);
    // The app and cluster points of a bucket are written at the first report of the next one.
    h.record('a1', 2000, [report('web.1', 2, 11, 120), report('web.2', 2, 22, 220)], ALLOC);
    const web = h.appSeries((id) => id === '/web')[0]!.series;
    assert.deepEqual(web['cpus'], [0, 1.5]);
    assert.deepEqual(web['mem'], [300, 320]);
    const agents = Object.fromEntries(h.agentSeries().map((a) => [a.id, a.series]));
    assert.deepEqual(agents['a1']!['cpus'], [0, 1.5, 1.5]);
    const cluster = h.clusterSeries();
    assert.deepEqual(cluster['cpus_used'], [0, 0, 1.75]);
    assert.deepEqual(cluster['cpus_total'], [4, 4, 4]);
    assert.deepEqual(cluster['mem_allocated'], [512 * 1048576, 512 * 1048576, 512 * 1048576]);
    const tasks = h.taskList((t) => t.appId === '/web', { series: true, limit: 10 });
    assert.deepEqual(
      tasks.map((t) => [t.id, t.cpus]),
      [
        ['web.1', 0.5],
        ['web.2', 1],
      ],
    );
    assert.deepEqual(tasks[0]!.series?.['cpus'], [null, 0.5, 0.5]);
  });

  test('a task its agent stops reporting has ended: out of the sums, and dropped a ring’s time later', () => {
    const h = new UsageHistory({ bucketMs: 1000, capacity: 3, appOf });
    h.record('a1', 0, [report('web.1', 0, 0, 100)], ALLOC);
    h.record('a1', 1000, [report('web.1', 1, 1, 100)], ALLOC);
    h.record('a1', 2000, [], ALLOC);
    assert.equal(h.taskList(() => true, { series: false, limit: 10 })[0]?.live, false);
    h.record('a1', 3000, [], ALLOC);
    // Flushed at 1 s (no rate yet), 2 s (1 core) and 3 s (ended: 0).
    assert.deepEqual(h.appSeries()[0]?.series['cpus'], [0, 1, 0]);
    for (let t = 4000; t <= 8000; t += 1000) h.record('a1', t, [], ALLOC);
    assert.equal(h.taskCount, 0);
    assert.deepEqual(h.appSeries(), []);
  });

  test('bounded: never more than maxTasks task series, the least recently reported go first', () => {
    const h = new UsageHistory({ bucketMs: 1000, capacity: 5, maxTasks: 100, appOf });
    for (let round = 0; round < 10; round++) {
      const usage = Array.from({ length: 60 }, (_, i) => report(`app${i}.r${round}`, round, round, 1));
      h.record(`agent${round}`, round * 1000, usage, ALLOC);
      // Expiry runs at each bucket's first report (the flush), over what the earlier buckets left.
      assert.ok(h.taskCount <= 100 + 60, `${h.taskCount} task series`);
    }
    h.record('agent-last', 10_000, [], ALLOC);
    assert.ok(h.taskCount <= 100);
    assert.ok(h.taskList((t) => t.id.endsWith('.r9'), { series: false, limit: 1000 }).length === 60, 'the newest are kept');
  });

  test('no rate across a counter reset or without time passing', () => {
    assert.equal(cpuRate(report('a', 1, 5, 0).statistics, report('a', 2, 1, 0).statistics), null);
    assert.equal(cpuRate(report('a', 1, 5, 0).statistics, report('a', 1, 6, 0).statistics), null);
    assert.equal(cpuRate(report('a', 1, 5, 0).statistics, report('a', 3, 6, 0).statistics), 0.5);
  });
});
