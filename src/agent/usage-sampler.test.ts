import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../clock/clock.ts';
import { parseBlkio, parseFlatKeyed, parseIoStat, readContainerStatistics, UsageSampler, usagePrometheusText } from './usage-sampler.ts';

// Real file contents, trimmed, from a v2 (unified) and a v1 (hybrid) machine.
const V2 = new Map<string, string>([
  ['/cg/t/cpu.stat', 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 30000\n'],
  ['/cg/t/memory.current', '73400320\n'],
  ['/cg/t/memory.max', '134217728\n'],
  ['/cg/t/memory.stat', 'anon 67108864\nfile 4194304\nkernel 1000\n'],
  ['/cg/t/io.stat', '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=100 wbytes=0 rios=1 wios=0\n'],
]);
const V1 = new Map<string, string>([
  ['/cpu/t/cpu.stat', 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n'],
  ['/cpuacct/t/cpuacct.stat', 'user 350\nsystem 25\n'],
  ['/memory/t/memory.usage_in_bytes', '70000000\n'],
  ['/memory/t/memory.limit_in_bytes', '9223372036854771712\n'],
  ['/memory/t/memory.stat', 'cache 100\nrss 5\ntotal_cache 2000\ntotal_rss 67000000\n'],
  ['/blkio/t/blkio.throttle.io_service_bytes', '8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\nTotal 4608\n'],
  ['/blkio/t/blkio.throttle.io_serviced', '8:0 Read 1\n8:0 Write 2\nTotal 3\n'],
]);

describe('cgroup usage parsing', () => {
  test('keyed files, io.stat and blkio sum what they should', () => {
    assert.deepEqual(
      [...parseFlatKeyed('a 1\nb 2\nbad\nc x\n')],
      [
        ['a', 1],
        ['b', 2],
      ],
    );
    // Two devices summed.
    assert.deepEqual(parseIoStat(V2.get('/cg/t/io.stat')!), { rbytes: 4196, wbytes: 8192, rios: 2, wios: 2 });
    // The per-device lines only: the trailing "Total" line would count everything twice.
    assert.deepEqual(parseBlkio(V1.get('/blkio/t/blkio.throttle.io_service_bytes')!), { read: 4096, write: 512 });
  });

  test('v2: microseconds to seconds, memory.current/max and anon, io.stat', () => {
    const s = readContainerStatistics(['/cg/t'], 1000, (p) => V2.get(p));
    assert.equal(s.cpus_user_time_secs, 2);
    assert.equal(s.cpus_system_time_secs, 0.5);
    assert.equal(s.cpus_nr_throttled, 2);
    assert.equal(s.cpus_throttled_time_secs, 0.03);
    assert.equal(s.mem_total_bytes, 73400320);
    assert.equal(s.mem_limit_bytes, 134217728);
    assert.equal(s.mem_rss_bytes, 67108864);
    assert.deepEqual(s.blkio_statistics?.throttling[0]?.io_service_bytes, [
      { op: 'READ', value: 4196 },
      { op: 'WRITE', value: 8192 },
      { op: 'TOTAL', value: 12388 },
    ]);
  });

  test('v1: cpuacct ticks (USER_HZ 100), no limit when the limit is "unlimited", total_rss, blkio', () => {
    const s = readContainerStatistics(['/memory/t', '/cpu/t', '/cpuacct/t', '/blkio/t'], 1000, (p) => V1.get(p));
    assert.equal(s.cpus_user_time_secs, 3.5);
    assert.equal(s.cpus_system_time_secs, 0.25);
    assert.equal(s.mem_total_bytes, 70000000);
    assert.equal(s.mem_limit_bytes, undefined);
    assert.equal(s.mem_rss_bytes, 67000000);
    assert.equal(s.blkio_statistics?.throttling[0]?.io_serviced.find((v) => v.op === 'TOTAL')?.value, 3);
  });

  test('a container whose cgroup is gone reads as a timestamp only', () => {
    assert.deepEqual(
      readContainerStatistics(['/nowhere'], 5, () => undefined),
      { timestamp: 5 },
    );
  });
});

describe('UsageSampler', () => {
  test('one pass per interval over every target; containers without cgroups are left out; Prometheus text', () => {
    const clock = new ManualClock(1_000_000);
    const passes: number[] = [];
    let reads = 0;
    const sampler = new UsageSampler({
      clock,
      intervalMs: 5000,
      targets: () => [
        { frameworkId: 'f', taskId: 't"1', executorId: 't"1', containerId: 'c1', cgroups: ['/cg/t'], cpus: 0.5 },
        { frameworkId: 'f', taskId: 'posix', executorId: 'posix', containerId: 'c2', cgroups: [] },
      ],
      onSample: (u) => passes.push(u.length),
      read: (p) => {
        reads++;
        return V2.get(p);
      },
    });
    sampler.start();
    clock.advance(5000);
    clock.advance(5000);
    assert.deepEqual(passes, [1, 1]);
    assert.ok(reads > 0);
    const [entry] = sampler.statistics();
    assert.equal(entry?.statistics.cpus_limit, 0.5);
    assert.equal(entry?.statistics.timestamp, 1010);
    assert.equal(entry?.executor_id, 't"1');
    const text = sampler.prometheus();
    assert.match(text, /^# TYPE drover_task_cpu_user_seconds_total counter$/m);
    // The quote in the task id is escaped.
    assert.match(text, /^drover_task_memory_bytes\{framework_id="f",executor_id="t\\"1",task_id="t\\"1"\} 73400320$/m);
    sampler.stop();
    clock.advance(20_000);
    assert.equal(passes.length, 2);
    assert.equal(usagePrometheusText([]).includes('{'), false);
    // Stopped (or --usage-interval 0): a request samples now, and does not push.
    assert.equal(sampler.statistics().length, 1);
    assert.equal(passes.length, 2);
  });
});
