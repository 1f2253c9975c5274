/**
 * Job and schedule validation, and every Metronome and Chronos fixture in
 * test/fixtures (copied from shared/fixtures/anchors, provenance in test/fixtures/SOURCES.md): accepted, or rejected with a reason naming the field.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/errors.ts';
import { fromChronos } from './chronos.ts';
import { parseJob, parseSchedule } from './job.ts';
import { manualRunId, runJson, type Run } from './run.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures');

function rejection(f: () => unknown): Record<string, string[]> {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DroverError && e.status === 422, `a 422, got ${String(e)}`);
    assert.equal(e.message, 'Object is not valid');
    return Object.fromEntries(e.details.map((d) => [d.path, d.errors]));
  }
  assert.fail('expected a rejection');
}

const base = { id: 'nightly', run: { cmd: 'true' } };

describe('job validation', () => {
  test('defaults are Metronome’s', () => {
    const job = parseJob({ ...base, schedules: [{ id: 'n', cron: '0 2 * * *' }] }, NOW);
    assert.deepEqual(job.run, { cpus: 1, mem: 128, disk: 0, cmd: 'true', env: {}, artifacts: [], placement: { constraints: [] }, maxLaunchDelay: 3600, restart: { policy: 'NEVER' } });
    assert.deepEqual(job.schedules, [{ id: 'n', cron: '0 2 * * *', timezone: 'UTC', startingDeadlineSeconds: 900, concurrencyPolicy: 'ALLOW', enabled: true }]);
  });

  test('errors carry Metronome paths', () => {
    assert.deepEqual(
      rejection(() => parseJob({ id: 'x', run: { cmd: 'true', cpus: 0.001 } }, NOW)),
      { '/run/cpus': ['must be >= 0.01'] },
    );
    assert.deepEqual(Object.keys(rejection(() => parseJob({ id: 'Bad_Id', run: { cmd: 'true' } }, NOW))), ['/id']);
    assert.deepEqual(Object.keys(rejection(() => parseJob({ id: 'x', run: {} }, NOW))), ['/run']);
    assert.deepEqual(Object.keys(rejection(() => parseJob({ id: 'x', run: { cmd: 'a', args: ['b'] } }, NOW))), ['/run/cmd']);
    assert.deepEqual(
      rejection(() => parseJob({ ...base, schedules: [{ id: 's', cron: '0 0 30 2 *' }] }, NOW)),
      { '/schedules/0/cron': ['day-of-month 30 never occurs in February'] },
    );
    assert.deepEqual(Object.keys(rejection(() => parseJob({ ...base, schedules: [{ id: 's', cron: '* * * * *', timezone: 'Nowhere/City' }] }, NOW))), ['/schedules/0/timezone']);
    assert.deepEqual(
      rejection(() => parseJob({ ...base, schedules: [{ id: 's', cron: '* * * * *', startingDeadlineSeconds: 30 }] }, NOW)),
      { '/schedules/0/startingDeadlineSeconds': ['must be at least 60 seconds'] },
    );
    assert.deepEqual(Object.keys(rejection(() => parseJob({ ...base, dependencies: [{ id: 'a' }], schedules: [{ id: 's', cron: '* * * * *' }] }, NOW))), ['/dependencies']);
    assert.deepEqual(Object.keys(rejection(() => parseJob({ ...base, run: { cmd: 'x', placement: { constraints: [{ attribute: 'rack', operator: 'GROUP_BY' }] } } }, NOW))), [
      '/run/placement/constraints/0/operator',
    ]);
    // LIKE/UNLIKE patterns: only what the linear-time engine takes (src/placement/pattern.ts).
    const like = (value: string) => rejection(() => parseJob({ ...base, run: { cmd: 'x', placement: { constraints: [{ attribute: 'hostname', operator: 'LIKE', value }] } } }, NOW));
    assert.match(like('(?=a)a')['/run/placement/constraints/0/value']?.[0] ?? '', /is not a valid regular expression: invalid or unsupported Perl syntax/);
    assert.match(like('x'.repeat(1001))['/run/placement/constraints/0/value']?.[0] ?? '', /at most 1000/);
    assert.deepEqual(
      rejection(() => parseJob({ ...base, color: 'red' }, NOW)),
      { '/color': ['unknown property'] },
    );
    assert.deepEqual(Object.keys(rejection(() => parseJob([], NOW))), ['/']);
    // A schema failure and an unsupported field are reported together.
    assert.deepEqual(Object.keys(rejection(() => parseJob({ id: 'x', run: { cmd: 'x', cpus: 0.001, docker: { image: 'busybox', parameters: [{ key: 'cap-add', value: 'ALL' }] } } }, NOW))).sort(), [
      '/run/cpus',
      '/run/docker/parameters',
    ]);
    assert.deepEqual(Object.keys(rejection(() => parseJob({ id: 'x', run: 'echo' }, NOW))), ['/run']);
  });

  test('EQ is IS; ON_FAILURE keeps its deadline; a repeating interval is a schedule too', () => {
    const job = parseJob(
      {
        ...base,
        run: { cmd: 'x', placement: { constraints: [{ attribute: 'rack', operator: 'EQ', value: 'r1' }] }, restart: { policy: 'ON_FAILURE', activeDeadlineSeconds: 120 } },
        schedules: [{ id: 'h', cron: 'R/2026-01-01T00:00:00Z/PT1H' }],
      },
      NOW,
    );
    assert.deepEqual(job.run.placement.constraints, [{ attribute: 'rack', operator: 'IS', value: 'r1' }]);
    assert.deepEqual(job.run.restart, { policy: 'ON_FAILURE', activeDeadlineSeconds: 120 });
    assert.equal(job.schedules[0]!.cron, 'R/2026-01-01T00:00:00Z/PT1H');
    assert.deepEqual(
      rejection(() => parseSchedule({ id: 'h', cron: 'R/2026-01-01/PT1H' }, NOW)),
      { '/cron': ["start '2026-01-01' is not an ISO-8601 date-time with a zone (e.g. 2026-01-01T00:00:00Z)"] },
    );
    assert.deepEqual(Object.keys(rejection(() => parseSchedule({ id: 'h', cron: 'R/2026-01-01T00:00:00Z/PT1H', timezone: 'Europe/Berlin' }, NOW))), ['/timezone']);
  });
});

const read = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

describe('Metronome fixtures', () => {
  const dir = join(FIXTURES, 'metronome');
  // file → the fields each rejection names (empty = accepted). Unsupported features are refused, never ignored.
  const jobs: Record<string, string[][]> = {
    // Images run (run.docker, run.ucr), host volumes (each agent's --host-volume-paths decide) and named networks (CNI on the agents).
    'v1__examples__job.json': [[]],
    // docker run options cannot be honoured without a Docker daemon.
    'v1__examples__job_docker_param.json': [['/run/docker/parameters']],
    // A secret file at an absolute path in its image (ucr.image): bound there from a tmpfs by the agent.
    'v1__examples__job_file_based_secrets.json': [[]],
    'v1__examples__job_secrets.json': [[]],
    'v1__examples__job_ucr.json': [[]],
    'v0__examples__job.json': [[]],
    // A list: the first is valid; the second's id has a space and capitals.
    'v1__examples__job_list.json': [[], ['/id']],
  };
  for (const [file, expected] of Object.entries(jobs)) {
    test(file, () => {
      const raw = read(join(dir, file));
      const bodies = Array.isArray(raw) ? raw : [raw];
      assert.equal(bodies.length, expected.length);
      bodies.forEach((body, i) => {
        const want = expected[i]!;
        if (want.length === 0) {
          assert.equal(parseJob(body, NOW).id, (body as { id: string }).id);
          return;
        }
        const got = rejection(() => parseJob(body, NOW));
        assert.deepEqual(Object.keys(got).sort(), [...want].sort());
        for (const reasons of Object.values(got))
          assert.ok(
            reasons.every((r) => r.length > 10),
            `a reason, not just a flag: ${reasons.join('; ')}`,
          );
      });
    });
  }

  test('schedules: both examples are accepted as they are', () => {
    const one = read(join(dir, 'v1__examples__schedule.json'));
    assert.deepEqual(parseSchedule(one, NOW), one);
    for (const s of read(join(dir, 'v1__examples__schedule_list.json')) as unknown[]) assert.deepEqual(parseSchedule(s, NOW), s);
  });

  test('run and queue examples: our answers have the same fields', () => {
    const example = read(join(dir, 'v1__examples__run.json')) as Record<string, unknown>;
    const run: Run = { id: manualRunId(NOW), jobId: 'prod', status: 'STARTING', createdAt: NOW, trigger: 'manual', cycle: 'manual-x', tasks: [] };
    const ours = runJson(run);
    for (const key of Object.keys(example)) assert.ok(key in ours, `run has ${key}`);
    assert.match(ours['id'] as string, /^\d{14}[A-Za-z0-9]{5}$/);
    assert.match(ours['createdAt'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    assert.equal(ours['completedAt'], null);
    const runs = read(join(dir, 'v1__examples__run_list.json')) as Array<Record<string, unknown>>;
    for (const r of runs) assert.match(r['id'] as string, /^\d{14}[A-Za-z0-9]{5}$/, 'Metronome run ids have our form');
  });

  test('every fixture file is covered by this suite', () => {
    const covered = new Set([...Object.keys(jobs), 'v1__examples__schedule.json', 'v1__examples__schedule_list.json', 'v1__examples__run.json', 'v1__examples__run_list.json']);
    // Schemas and /info, queue answers are reference material, not inputs (the queue shape is checked in test/jobs.test.ts).
    const reference = new Set([
      'general__examples__info.json',
      'general__schema__info.schema.json',
      'v0__schema__jobspec_v0.schema.json',
      'v1__schema__jobspec.schema.json',
      'v1__schema__schedulespec.schema.json',
      'v1__examples__queue_job_list.json',
    ]);
    for (const f of readdirSync(dir)) assert.ok(covered.has(f) || reference.has(f), `fixture ${f} is covered`);
  });
});

/** The fixtures' YAML is flat `key: value` with `- item` lists: enough to read them here. */
function tinyYaml(text: string): Array<Record<string, unknown>> {
  return text
    .split(/^---$/m)
    .map((doc) => doc.trim())
    .filter(Boolean)
    .map((doc) => {
      const out: Record<string, unknown> = {};
      let list: string[] | undefined;
      for (const line of doc.split('\n')) {
        const item = /^\s+-\s+(.*)$/.exec(line);
        if (item && list) list.push(item[1]!);
        const kv = /^(\w+):\s*(.*)$/.exec(line);
        if (!kv) continue;
        const value = kv[2]!;
        if (value === '') out[kv[1]!] = list = [];
        else out[kv[1]!] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
      }
      return out;
    });
}

describe('Chronos fixtures', () => {
  const dir = join(FIXTURES, 'chronos');
  const expected: Record<string, string[]> = {
    'docs_api_md_job_1_SAMPLE_JOB1.json': [],
    'docs_api_md_job_2_hostings_earnings_summary.json': ['/async'],
    // Its image, bridge network and host volume all run (issue 17).
    'docs_api_md_job_3_dockerjob.json': [],
    'docs_api_md_job_4_camus_kafka2hdfs.json': [],
  };
  for (const [file, want] of Object.entries(expected)) {
    test(file, () => {
      const body = read(join(dir, file));
      if (want.length > 0) {
        const got = rejection(() => parseJob(fromChronos(body), NOW));
        assert.deepEqual(Object.keys(got), want);
        return;
      }
      const job = parseJob(fromChronos(body), NOW);
      assert.equal(job.labels['chronos.name'], (body as { name: string }).name);
    });
  }

  test('SAMPLE_JOB1: R10 interval, epsilon → startingDeadlineSeconds, not concurrent → FORBID', () => {
    const job = parseJob(fromChronos(read(join(dir, 'docs_api_md_job_1_SAMPLE_JOB1.json'))), NOW);
    assert.equal(job.id, 'sample-job1');
    assert.deepEqual(job.schedules[0], { id: 'default', cron: 'R10/2012-10-01T05:52:00Z/PT2S', timezone: 'UTC', startingDeadlineSeconds: 900, concurrencyPolicy: 'FORBID', enabled: true });
    assert.deepEqual(job.run.restart, { policy: 'ON_FAILURE', retries: 2 });
  });

  test('camus: shell false → args; fetch → artifacts; environment variables → env', () => {
    const job = parseJob(fromChronos(read(join(dir, 'docs_api_md_job_4_camus_kafka2hdfs.json'))), NOW);
    assert.deepEqual(job.run.args, ['/srv/data-infra/kafka/camus/kafka_hdfs_job.bash', '-verbose', '-debug']);
    assert.equal(job.run.artifacts[0]!.uri, 'https://url-to-file');
    assert.equal(job.run.env['JVMOPTS'], '-Xmx1000m');
    assert.equal(job.run.mem, 1024);
  });

  test('every fixture file is covered by this suite', () => {
    for (const f of readdirSync(dir)) {
      // The API document is reference material; its job examples are the docs_api_md_* files.
      assert.ok(f in expected || f.endsWith('.yaml') || f === 'docs__docs__api.md', `fixture ${f} is covered`);
    }
  });

  test('YAML jobs: scheduled ones (PT1H, P1D, P1W) and the dependent one are accepted', () => {
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of tinyYaml(readFileSync(join(dir, file), 'utf8'))) {
        const job = parseJob(fromChronos(doc), NOW);
        assert.equal(job.run.user, 'root', file);
        if (doc['parents']) assert.deepEqual(job.dependencies, [{ id: 'hourly-sleep1m' }]);
        else assert.match(job.schedules[0]!.cron, /^R\/2016-12-05T22:00:00.000Z\/P/);
      }
    }
  });
});

describe('Chronos bodies with values that are not what they claim', () => {
  // An object whose own `toString` is not a function throws when converted to text: the fuzzer
  // found a 500 with `mem: ['O', {toString: -1.9e-44}]` on POST /v1/scheduler/iso8601.
  const hostile = { toString: -1.9883551068431598e-44 };
  const base = { name: 'x', command: 'true', schedule: 'R/2030-01-01T00:00:00Z/PT1H' };
  const cases: Array<[string, Record<string, unknown>]> = [
    ['/mem', { ...base, mem: ['O', '([q', hostile] }],
    ['/arguments/0', { ...base, arguments: [hostile] }],
    ['/parents/0', { name: 'x', command: 'true', parents: [hostile] }],
    ['/uris/0', { ...base, uris: [hostile] }],
    ['/fetch/0/uri', { ...base, fetch: [{ uri: hostile }] }],
    ['/environmentVariables/0/name', { ...base, environmentVariables: [{ name: hostile, value: 'v' }] }],
    ['/container/type', { ...base, container: { type: hostile } }],
  ];
  for (const [path, body] of cases) {
    test(`refused with 422 at ${path}, no TypeError`, () => {
      assert.throws(
        () => fromChronos(body),
        (e: unknown) => e instanceof DroverError && e.status === 422 && JSON.stringify(e.details).includes(`"${path}"`),
      );
    });
  }
});
