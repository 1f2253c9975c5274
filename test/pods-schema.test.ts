/**
 * The pod JSON (pod-schema.ts) and the `/v2/pods/<id>::…` path split (pods-api.ts), pure: defaults
 * of the anchors (m2-anchors §4a), a 422 with the path of every problem, and what is refused
 * until its part exists. The end-to-end behaviour is test/pods.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DroverError } from '../src/errors/errors.ts';
import { parsePod, podConfigEqual, podNetworkNames, podRoleErrors } from '../src/frameworks/services/pod-schema.ts';
import { splitPodPath } from '../src/frameworks/services/pods-api.ts';
import { isPodTaskId } from '../src/frameworks/services/pods.ts';
import { taskId } from '../src/frameworks/services/app.ts';

const NOW = new Date('2026-12-07T00:00:00.000Z');

function problems(body: unknown): string[] {
  try {
    parsePod(body, NOW);
  } catch (e) {
    assert.ok(e instanceof DroverError);
    assert.equal(e.code, 'DROVER_ERR_VALIDATION');
    return e.details.map((d) => `${d.path}: ${d.errors.join('; ')}`);
  }
  assert.fail('the pod was accepted');
}

test('the minimal pod of the anchors gets their defaults', () => {
  const pod = parsePod(
    {
      id: '/simplepod',
      scaling: { kind: 'fixed', instances: 1 },
      containers: [{ name: 'sleep1', exec: { command: { shell: 'sleep 1000' } }, resources: { cpus: 0.1, mem: 32 } }],
      networks: [{ mode: 'host' }],
    },
    NOW,
  );
  assert.equal(pod.id, '/simplepod');
  assert.equal(pod.version, NOW.toISOString());
  assert.deepEqual(pod.executorResources, { cpus: 0.1, mem: 32, disk: 10 });
  assert.deepEqual(pod.scheduling.upgrade, { minimumHealthCapacity: 1, maximumOverCapacity: 1 });
  assert.deepEqual(pod.scheduling.backoff, { backoff: 1, backoffFactor: 1.15, maxLaunchDelay: 300 });
  assert.equal(pod.scheduling.killSelection, 'YOUNGEST_FIRST');
  assert.deepEqual(pod.containers[0]!.resources, { cpus: 0.1, mem: 32, disk: 0, gpus: 0 });
  assert.deepEqual(pod.containers[0]!.exec, { command: { shell: 'sleep 1000' } });
});

test("the anchors' pod.json parses whole, its named container network included", async () => {
  const fixture = JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'marathon', 'pod.json'), 'utf8'));
  const pod = parsePod(fixture, NOW);
  assert.deepEqual(pod.networks, [{ mode: 'container', name: 'my-network', labels: {} }]);
  assert.deepEqual(podNetworkNames(pod), ['my-network']);
  assert.equal(pod.id, '/foo');
  assert.deepEqual(pod.scaling, { kind: 'fixed', instances: 1, maxInstances: 888 });
  assert.deepEqual(pod.executorResources, { cpus: 0.2, mem: 64, disk: 50 });
  assert.deepEqual(pod.volumes, [{ name: 'etc', host: '/hdd/tools/docker/registry' }]);
  const c = pod.containers[0]!;
  assert.deepEqual(c.endpoints, [{ name: 'httpendpoint', hostPort: 0, containerPort: 80, protocol: ['tcp'], labels: {} }]);
  assert.deepEqual(c.healthCheck?.http, { endpoint: 'httpendpoint', path: '/health', scheme: 'HTTP' });
  assert.deepEqual(c.artifacts, [{ uri: 'https://foo.com/archive.zip', extract: true, executable: false, cache: true, destPath: 'newname.zip' }]);
  assert.deepEqual(c.lifecycle, { killGracePeriodSeconds: 60 });
  assert.equal(c.user, 'root');
  assert.deepEqual(c.image, { kind: 'DOCKER', id: 'mesosphere/marathon:latest', forcePull: false });
  assert.deepEqual(c.volumeMounts, [{ name: 'etc', mountPath: '/mnt/etc', readOnly: true }]);
  // Without its image, the absolute and read-only mount has no root filesystem to go in.
  delete fixture.containers[0].image;
  assert.deepEqual(
    problems(fixture)
      .map((p) => p.split(':')[0])
      .sort(),
    ['/containers/0/volumeMounts/0/mountPath', '/containers/0/volumeMounts/0/readOnly'],
  );
});

test('container images: DOCKER only, a bounded reference, exec optional', () => {
  const pod = (image: unknown, exec?: unknown) => ({
    id: '/i',
    networks: [{ mode: 'host' }],
    containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 }, image, ...(exec === undefined ? {} : { exec }) }],
  });
  const parsed = parsePod(pod({ kind: 'DOCKER', id: 'registry.local:5000/app:1', forcePull: true }), NOW).containers[0]!;
  assert.deepEqual(parsed.image, { kind: 'DOCKER', id: 'registry.local:5000/app:1', forcePull: true });
  assert.deepEqual(parsed.exec, { command: {} }, "no exec: the image's own command");
  assert.deepEqual(
    problems(pod({ kind: 'APPC', id: 'x' })).map((p) => p.split(':')[0]),
    ['/containers/0/image/kind'],
  );
  assert.deepEqual(
    problems(pod({ kind: 'DOCKER', id: 'x'.repeat(600) })).map((p) => p.split(':')[0]),
    ['/containers/0/image/id'],
  );
  assert.deepEqual(
    problems(pod({ kind: 'DOCKER' })).map((p) => p.split(':')[0]),
    ['/containers/0/image/id'],
  );
  assert.deepEqual(
    problems(pod({ kind: 'DOCKER', id: 'a', pullConfig: { secret: 's' } })).map((p) => p.split(':')[0]),
    ['/containers/0/image/pullConfig'],
  );
  assert.deepEqual(
    problems({ id: '/i', networks: [{ mode: 'host' }], containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 } }] }).map((p) => p.split(':')[0]),
    ['/containers/0/exec'],
    'no image: exec is required',
  );
});

test('every problem with its path; bounds on what a request may carry', () => {
  const got = problems({
    id: '/Bad',
    networks: [],
    volumes: [
      { name: 'v', persistent: { size: 0 } },
      { name: 'v', host: 'relative' },
    ],
    containers: [
      { name: 'a', exec: { command: { shell: 'x', argv: ['y'] } }, resources: { cpus: 0, mem: 32 }, endpoints: [{ name: 'p', hostPort: 80 }], volumeMounts: [{ name: 'nope', mountPath: '../up' }] },
      { name: 'a', exec: { command: { argv: [] } }, resources: { cpus: 1, mem: 32 }, endpoints: [{ name: 'p', hostPort: 80, protocol: ['sctp'] }], healthCheck: { tcp: { endpoint: 'missing' } } },
    ],
    scaling: { kind: 'auto', instances: 5, maxInstances: 2 },
    scheduling: { placement: { constraints: [['hostname', 'UNIQUE']], acceptedResourceRoles: ['slave_public'] }, killSelection: 'RANDOM' },
    environment: { S: { secret: 'x' } },
  });
  const paths = got.map((p) => p.split(':')[0]);
  for (const expected of [
    '/id',
    '/networks',
    '/volumes/0/persistent/size',
    '/volumes/1/name',
    '/volumes/1/host',
    '/containers/0/exec/command',
    '/containers/0/resources/cpus',
    '/containers/0/volumeMounts/0/name',
    '/containers/0/volumeMounts/0/mountPath',
    '/containers/1/name',
    '/containers/1/exec/command/argv',
    '/containers/1/endpoints/0/name',
    '/containers/1/endpoints/0/hostPort',
    '/containers/1/endpoints/0/protocol/0',
    '/containers/1/healthCheck/tcp/endpoint',
    '/scaling/kind',
    '/scaling/instances',
    '/scheduling/placement/constraints',
    '/scheduling/killSelection',
    '/environment/S',
  ]) {
    assert.ok(paths.includes(expected), `${expected} in ${JSON.stringify(got, null, 1)}`);
  }
  assert.deepEqual(problems('not an object'), ['/: must be an object']);
  assert.ok(
    problems({ id: '/big', networks: [{ mode: 'host' }], containers: Array.from({ length: 300 }, (_, i) => ({ name: `c${i}` })) }).some((p) => p.startsWith('/containers: must have at most 256')),
  );
  assert.ok(
    problems({ id: '/long', networks: [{ mode: 'host' }], containers: [{ name: 'c', resources: { cpus: 1, mem: 1 }, exec: { command: { shell: 'x'.repeat(70_000) } } }] }).some((p) =>
      p.startsWith('/containers/0/exec/command/shell'),
    ),
  );
});

test('a scale is not a configuration change; anything else is', () => {
  const base = { id: '/p', networks: [{ mode: 'host' }], containers: [{ name: 'c', exec: { command: { shell: 'sleep 9' } }, resources: { cpus: 0.1, mem: 32 } }] };
  const a = parsePod({ ...base, scaling: { instances: 1 } }, NOW);
  const b = parsePod({ ...base, scaling: { instances: 3 } }, new Date(NOW.getTime() + 1000));
  const c = parsePod({ ...base, environment: { X: '1' } }, new Date(NOW.getTime() + 2000));
  assert.equal(podConfigEqual(a, b), true);
  assert.equal(podConfigEqual(a, c), false);
});

test('/v2/pods/<rest>: the pod id and the :: action', () => {
  assert.deepEqual(splitPodPath('a/b'), { id: 'a/b' });
  assert.deepEqual(splitPodPath('a/b::status'), { id: 'a/b', action: 'status' });
  assert.deepEqual(splitPodPath('::status'), { id: '', action: 'status' });
  assert.deepEqual(splitPodPath('a::versions/2026-12-07T00:00:00.000Z'), { id: 'a', action: 'versions', arg: '2026-12-07T00:00:00.000Z' });
  assert.deepEqual(splitPodPath('a::instances/a.instance-1'), { id: 'a', action: 'instances', arg: 'a.instance-1' });
});

test("pod task ids are told apart from apps' (a pod update must never reach an app, nor the reverse)", () => {
  const uuid = '0c9f4f5e-8d1a-4a57-9d0e-3f0d2b1c4a5e';
  assert.equal(isPodTaskId(`talk.instance-${uuid}.server`), true);
  assert.equal(isPodTaskId(`prod_web.instance-${uuid}.side-car`), true);
  assert.equal(isPodTaskId(taskId('/web', uuid)), false);
  assert.equal(isPodTaskId(taskId('/prod/web', uuid)), false);
  assert.equal(isPodTaskId('web.1234'), false);
});

test("roles: a pod's role and accepted roles are checked against the framework's, with the pod's paths", () => {
  const pod = (extra: Record<string, unknown>) =>
    parsePod({ id: '/r', networks: [{ mode: 'host' }], containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'x' } } }], ...extra }, NOW);
  const roles = ['*', 'slave_public'];
  // pod.json's empty list is no restriction (Marathon's default), not an error.
  assert.equal(pod({ scheduling: { placement: { acceptedResourceRoles: [] } } }).scheduling.placement, undefined);
  const publicPod = pod({ role: 'slave_public', scheduling: { placement: { acceptedResourceRoles: ['slave_public'] } } });
  assert.equal(publicPod.role, 'slave_public');
  assert.deepEqual(publicPod.scheduling.placement, { acceptedResourceRoles: ['slave_public'] });
  assert.deepEqual(podRoleErrors(publicPod, roles), []);
  assert.deepEqual(
    podRoleErrors(pod({ role: 'other' }), roles).map((d) => d.path),
    ['/role'],
  );
  assert.deepEqual(
    podRoleErrors(pod({ scheduling: { placement: { acceptedResourceRoles: ['*', 'slave_public'] } } }), roles).map((d) => d.path),
    ['/scheduling/placement/acceptedResourceRoles/1'],
    "only * and the pod's own role (here the default, *)",
  );
  assert.deepEqual(
    problems({ id: '/r', role: 7, networks: [{ mode: 'host' }], containers: [{ name: 'c', resources: { cpus: 0.1, mem: 32 }, exec: { command: { shell: 'x' } } }] }).map((p) => p.split(':')[0]),
    ['/role'],
  );
});

test('pod networks: container networks by name, container/bridge, host; each problem with its path', () => {
  const base = (networks: unknown, endpoints: unknown[] = []): unknown => ({
    id: '/net',
    networks,
    containers: [{ name: 'a', exec: { command: { shell: 'sleep 1' } }, resources: { cpus: 0.1, mem: 32 }, endpoints }],
  });
  // On a container network an endpoint without hostPort takes no host port; with one it needs a containerPort.
  const pod = parsePod(
    base(
      [{ name: 'dev' }],
      [
        { name: 'web', containerPort: 8080 },
        { name: 'admin', containerPort: 9090, hostPort: 0 },
      ],
    ),
    NOW,
  );
  assert.deepEqual(pod.networks, [{ mode: 'container', name: 'dev', labels: {} }]);
  assert.deepEqual(
    pod.containers[0]!.endpoints.map((e) => [e.name, e.hostPort, e.containerPort]),
    [
      ['web', undefined, 8080],
      ['admin', 0, 9090],
    ],
  );
  // In host mode hostPort defaults to 0, as before.
  assert.equal(parsePod(base([{ mode: 'host' }], [{ name: 'web' }]), NOW).containers[0]!.endpoints[0]!.hostPort, 0);
  assert.deepEqual(podNetworkNames(parsePod(base([{ mode: 'container/bridge' }], [{ name: 'web', containerPort: 80 }]), NOW)), ['mesos-bridge']);
  assert.deepEqual(podNetworkNames(parsePod(base([{ name: 'a' }, { name: 'b' }]), NOW)), ['a', 'b']);
  const cases: Array<[unknown, string[]]> = [
    [base([{ mode: 'container' }]), ['/networks/0/name']],
    [base([{ name: '../etc' }]), ['/networks/0/name']],
    [base([{ name: 'x'.repeat(64) }]), ['/networks/0/name']],
    [base([{ name: 'a' }, { name: 'a' }]), ['/networks/1/name']],
    [base([{ mode: 'bridge' }]), ['/networks/0/mode']],
    [base([{ mode: 'host', name: 'x' }]), ['/networks/0/name']],
    [base([{ mode: 'host' }, { name: 'dev' }]), ['/networks']],
    [base([{ name: 'dev' }], [{ name: 'web', hostPort: 0 }]), ['/containers/0/endpoints/0/containerPort']],
    [base([{ mode: 'container/bridge' }], [{ name: 'web' }]), ['/containers/0/endpoints/0/containerPort']],
    [
      base(
        [{ name: 'dev' }],
        [
          { name: 'web', containerPort: 80 },
          { name: 'api', containerPort: 80 },
        ],
      ),
      ['/containers/0/endpoints/1/containerPort'],
    ],
    [base([{ name: 'dev' }], [{ name: 'web', containerPort: 70000 }]), ['/containers/0/endpoints/0/containerPort']],
    [base([]), ['/networks']],
  ];
  for (const [body, paths] of cases) {
    assert.deepEqual(
      problems(body).map((p) => p.split(':')[0]),
      paths,
      JSON.stringify(body),
    );
  }
});
