/**
 * Bridge networking (network/cni-bridge.ts): a real agent's own `mesos-bridge` network — the CNI
 * bridge and portmap plugins of containernetworking-plugins — puts an image task on a Linux bridge
 * in a network namespace of its own, and forwards the host port it was given to its container
 * port. An HTTP server inside answers on the host's loopback at the host port; the forward and
 * the namespace go with the task. A task mapping a host port it was not given is TASK_ERROR.
 * The bridge and subnet are random per run; no traffic leaves the machine.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { eventually } from '../devkit/process.ts';
import { Agent } from '../src/agent/agent.ts';
import { netnsName } from '../src/agent/network/cni.ts';
import type { TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { FAST_AGENT, linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';

const run = promisify(execFile);

function unavailable(): string | undefined {
  for (const plugin of ['bridge', 'host-local', 'portmap']) if (!existsSync(`/usr/lib/cni/${plugin}`)) return 'containernetworking-plugins is not installed';
  if (!existsSync('/usr/sbin/iptables')) return 'iptables (used by the portmap plugin) is not installed';
  return linuxUnavailable();
}
const skip = unavailable();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const natRules = (): string => execFileSync('/usr/sbin/iptables', ['-t', 'nat', '-S']).toString();

describe('bridge networking', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let master: FakeMaster;
  let agent: Agent;
  const suffix = `${process.pid % 100000}`;
  const bridgeName = `drbr${suffix}`;
  // A /24 of 10.240.0.0/12 picked by pid: two runs at once do not share one.
  const subnet = `10.${240 + (process.pid % 16)}.${(process.pid >> 4) % 256}.0/24`;
  let hostPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-imgbridge-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    hostPort = await freePort();
    master = await FakeMaster.start();
    await mkdir(join(dir, 'cni'));
    agent = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir: join(dir, 'work'),
      resources: Resources.parse(`cpus:4;mem:4096;disk:4096;ports:[${hostPort}-${hostPort}]`),
      ...FAST_AGENT,
      recoveryPollIntervalMs: 50,
      containerizer: 'linux',
      cni: { configDir: join(dir, 'cni'), pluginsDir: '/usr/lib/cni', bridge: { bridgeName, subnet, ipamDir: join(dir, 'ipam') } },
    });
    await agent.start();
    await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
  });

  after(async () => {
    await agent?.shutdown(0).catch(() => undefined);
    killTasksUnder(dir);
    killImageTasksUnder(dir);
    await master?.close();
    await registry?.stop();
    await run('/usr/sbin/ip', ['link', 'delete', bridgeName]).catch(() => undefined);
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  function launch(id: string, script: string, mappings: Array<{ host_port: number; container_port: number }>, ports: number[]): void {
    const task: TaskInfo = {
      name: id,
      task_id: { value: id },
      agent_id: { value: agent.agentId! },
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
        ...(ports.length === 0 ? [] : [{ name: 'ports', type: 'RANGES' as const, ranges: { range: ports.map((p) => ({ begin: p, end: p })) } }]),
      ],
      command: { value: script, shell: true },
      container: {
        type: 'MESOS',
        mesos: { image: { type: 'DOCKER', docker: { name: `${registry.host}/drover/hello` } } },
        network_infos: [{ name: 'mesos-bridge', port_mappings: mappings.map((m) => ({ ...m, protocol: 'tcp' })) }],
      },
    };
    master.push({ type: 'LAUNCH', launch: { framework_id: FRAMEWORK.id!, framework_info: { ...FRAMEWORK, user: 'nobody' }, tasks: [task] } });
  }

  test('an image task on the bridge: an address from the subnet, its container port reached through the host port on loopback; the forward goes with it', async () => {
    const script = 'W=$MESOS_SANDBOX/www; mkdir -p $W && ip -o -4 addr show eth0 > $W/addr && echo bridged > $W/index.html && exec httpd -f -p 8080 -h $W';
    launch('web', script, [{ host_port: hostPort, container_port: 8080 }], [hostPort]);
    const running = await master.update('web', 'TASK_RUNNING', 120_000);
    const status = running.status.container_status as { container_id: { value: string }; network_infos: Array<{ name: string; ip_addresses: Array<{ ip_address: string }> }> };
    assert.equal(status.network_infos[0]?.name, 'mesos-bridge');
    const ip = status.network_infos[0]!.ip_addresses[0]!.ip_address;
    assert.ok(ip.startsWith(subnet.split('.').slice(0, 3).join('.')), `${ip} in ${subnet}`);
    const body = await eventually(
      async () => {
        const answer = await fetch(`http://127.0.0.1:${hostPort}/index.html`).catch(() => undefined);
        return answer?.ok === true ? answer.text() : undefined;
      },
      'the task answers on the host port',
      60_000,
    );
    assert.equal(body, 'bridged\n');
    // Inside, the server listens on its own interface: the address the agent reported.
    const addr = await (await fetch(`http://127.0.0.1:${hostPort}/addr`)).text();
    assert.match(addr, new RegExp(`eth0\\s+inet ${ip.replaceAll('.', '\\.')}/24`));
    assert.match(natRules(), new RegExp(`--dport ${hostPort}\\b`));

    master.kill('web');
    await master.update('web', 'TASK_KILLED', 120_000);
    const containerId = status.container_id.value;
    await eventually(async () => !existsSync(`/run/netns/${netnsName(containerId)}`), 'netns removed', 60_000);
    assert.doesNotMatch(natRules(), new RegExp(`--dport ${hostPort}\\b`), 'the DNAT went with the task');
  });

  test('a host port the task was not given is TASK_ERROR, before anything runs', async () => {
    launch('thief', 'true', [{ host_port: 22, container_port: 22 }], []);
    const error = await master.update('thief', 'TASK_ERROR', 120_000);
    assert.equal(error.status.reason, 'REASON_TASK_INVALID');
    assert.match(error.status.message ?? '', /host port 22 is mapped but is not among the task's ports resources/);
  });
});
