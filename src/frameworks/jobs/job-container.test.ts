/** Jobs' containers in the TaskInfo: Metronome's networks and host volumes, Chronos' `container` (issue 17). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../../errors/errors.ts';
import { Resources } from '../../resources/index.ts';
import { fromChronos } from './chronos.ts';
import { parseJob } from './job.ts';
import type { Run } from './run.ts';
import { buildJobTaskInfo } from './task-builder.ts';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const FIXTURES = join(import.meta.dirname, '../../../test/fixtures');
const RUN = { id: 'r1', jobId: 'j' } as Run;
const read = (path: string): unknown => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));

interface Container {
  mesos?: { image: { docker: { name: string } } };
  network_infos?: Array<{ name: string }>;
  volumes?: unknown[];
}

test("Metronome job.json: its image, its 'calico' container network and its host volume reach the TaskInfo", () => {
  const job = parseJob(read('metronome/v1__examples__job.json'), NOW);
  const info = buildJobTaskInfo(job, RUN, 't', 'a', Resources.parse('cpus:1.5;mem:32')) as { container: Container };
  assert.equal(info.container.mesos?.image.docker.name, 'foo/bla:test');
  assert.deepEqual(info.container.network_infos, [{ name: 'calico' }]);
  assert.deepEqual(info.container.volumes, [{ container_path: '/mnt/test', mode: 'RW', source: { type: 'HOST_PATH', host_path: { path: '/etc/guest' } } }]);
});

test("Chronos dockerjob: the image, BRIDGE as the agents' mesos-bridge, the host volume", () => {
  const job = parseJob(fromChronos(read('chronos/docs_api_md_job_3_dockerjob.json')), NOW);
  const info = buildJobTaskInfo(job, RUN, 't', 'a', Resources.parse('cpus:0.5;mem:512')) as { container: Container };
  assert.equal(info.container.mesos?.image.docker.name, 'libmesos/ubuntu');
  assert.deepEqual(info.container.network_infos, [{ name: 'mesos-bridge' }]);
  assert.deepEqual(info.container.volumes, [{ container_path: '/var/log/', mode: 'RW', source: { type: 'HOST_PATH', host_path: { path: '/logs/' } } }]);
});

test('Chronos container: what cannot be honoured is refused by its path', () => {
  const paths = (container: unknown): string[] => {
    try {
      parseJob(fromChronos({ name: 'x', command: 'true', schedule: 'R/2026-01-01T00:00:00Z/PT1H', container }), NOW);
      return [];
    } catch (error) {
      assert.ok(error instanceof DroverError);
      return (error.details ?? []).map((d) => d.path).sort();
    }
  };
  assert.deepEqual(paths({ type: 'DOCKER', image: 'a/b', parameters: [{ key: 'k', value: 'v' }] }), ['/container/parameters']);
  assert.deepEqual(paths({ type: 'DOCKER' }), ['/container/image']);
  assert.deepEqual(paths({ type: 'DOCKER', image: 'a/b', network: 'USER' }), ['/container/networkName']);
  assert.deepEqual(paths({ type: 'DOCKER', image: 'a/b', volumes: [{ containerPath: '/x', external: { name: 'v' } }] }), ['/container/volumes/0/external']);
  assert.deepEqual(paths({ type: 'MESOS', volumes: [{ containerPath: '/x', hostPath: '/y', mode: 'RO' }] }), ['/run/volumes/0/containerPath']);
  assert.deepEqual(paths({ type: 'MESOS', image: 'a/b', network: 'USER', networkName: 'dev' }), []);
});
