/**
 * CNI networks with the real plugins (containernetworking-plugins, bridge + host-local) on this
 * machine's kernel: a task asking for two networks gets eth0 and eth1 with an address from each
 * range, its TASK_RUNNING reports them, and its end DELs them and removes its namespace.
 * The addresses live only on two test bridges; no traffic leaves them. Skipped, with the reason,
 * where it cannot run (not root, no cgroups, no plugins).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Agent } from '../src/agent/agent.ts';
import { netnsName } from '../src/agent/network/cni.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { killTasksUnder } from './agent-containerizer-contract.ts';
import { FakeMaster, FRAMEWORK } from './agent-fake-master.ts';
import { linuxUnavailable } from './support/agent.ts';

function unavailable(): string | undefined {
  if (!existsSync('/usr/lib/cni/bridge') || !existsSync('/usr/lib/cni/host-local')) return 'containernetworking-plugins is not installed';
  if (!existsSync('/usr/sbin/ip')) return 'iproute2 is not installed';
  return linuxUnavailable();
}
const skip = unavailable();
const BRIDGES = ['drover-dev0', 'drover-data0'];

describe('CNI networks', { skip }, () => {
  let master: FakeMaster;
  let root: string;
  let agent: Agent;

  before(async () => {
    master = await FakeMaster.start();
    root = await mkdtemp(join(tmpdir(), 'drover-cni-'));
    const configDir = join(root, 'cni');
    await mkdir(configDir);
    const network = (name: string, bridge: string, subnet: string): string =>
      JSON.stringify({
        cniVersion: '0.4.0',
        name,
        plugins: [{ type: 'bridge', bridge, isGateway: false, ipMasq: false, ipam: { type: 'host-local', subnet, dataDir: join(root, 'ipam') } }],
      });
    await writeFile(join(configDir, '10-dev.conflist'), network('dev', 'drover-dev0', '10.99.1.0/24'));
    // The .conf form (a single plugin) works too.
    await writeFile(
      join(configDir, '20-data.conf'),
      JSON.stringify({ cniVersion: '0.4.0', name: 'data', type: 'bridge', bridge: 'drover-data0', ipam: { type: 'host-local', subnet: '10.99.2.0/24', dataDir: join(root, 'ipam') } }),
    );
    agent = new Agent({
      masterUrl: master.url,
      port: 0,
      workDir: join(root, 'work'),
      resources: Resources.parse('cpus:2;mem:1024'),
      detectResources: false,
      logger: silentLogger(),
      reconnectBackoff: { initialMs: 20, maxMs: 200 },
      recoveryPollIntervalMs: 50,
      containerizer: 'linux',
      cni: { configDir, pluginsDir: '/usr/lib/cni' },
    });
    await agent.start();
    await master.waitFor(() => agent.registered && master.connected && agent.agentId !== undefined, 'registration');
  });

  after(async () => {
    await agent.shutdown(0);
    killTasksUnder(join(root, 'work'));
    await master.close();
    for (const bridge of BRIDGES) {
      try {
        execFileSync('/usr/sbin/ip', ['link', 'delete', bridge], { stdio: 'ignore' });
      } catch {
        // never created
      }
    }
    await rm(root, { recursive: true, force: true });
  });

  /** Launch a task that asks for the named CNI networks. */
  function launchOn(id: string, cmd: string, networks: string[]): void {
    master.push({
      type: 'LAUNCH',
      launch: {
        framework_id: FRAMEWORK.id!,
        framework_info: FRAMEWORK,
        tasks: [
          {
            name: id,
            task_id: { value: id },
            agent_id: { value: agent.agentId! },
            resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
            command: { value: cmd, shell: true },
            container: { type: 'MESOS', network_infos: networks.map((name) => ({ name })) },
          },
        ],
      },
    });
  }

  test('a task on two networks gets an interface and an address on each, reported in TASK_RUNNING', async () => {
    launchOn('netted', 'ip -o -4 addr', ['dev', 'data']);
    const running = await master.update('netted', 'TASK_RUNNING');
    const status = running.status.container_status as { container_id: { value: string }; network_infos: Array<{ name: string; ip_addresses: Array<{ ip_address: string; protocol: string }> }> };
    assert.deepEqual(
      status.network_infos.map((n) => n.name),
      ['dev', 'data'],
    );
    const [dev, data] = status.network_infos.map((n) => n.ip_addresses[0]!);
    assert.match(dev!.ip_address, /^10\.99\.1\.\d+$/);
    assert.match(data!.ip_address, /^10\.99\.2\.\d+$/);
    assert.equal(dev!.protocol, 'IPv4');

    const finished = await master.update('netted', 'TASK_FINISHED');
    const stdout = await readFile(join(finished.directory!, 'stdout'), 'utf8');
    // lo, plus eth0 on dev and eth1 on data, with exactly the reported addresses.
    assert.match(stdout, new RegExp(`eth0\\s+inet ${dev!.ip_address.replaceAll('.', '\\.')}/24`));
    assert.match(stdout, new RegExp(`eth1\\s+inet ${data!.ip_address.replaceAll('.', '\\.')}/24`));
    assert.doesNotMatch(stdout, /eth2/);

    // The end DELed both networks and removed the namespace.
    const containerId = status.container_id.value;
    // The run directory carries the container id (the next test finds its namespace by it).
    assert.equal(basename(finished.directory!), containerId);
    await master.waitFor(() => !existsSync(`/run/netns/${netnsName(containerId)}`), 'netns removed');
    const leases = execFileSync('/bin/sh', ['-c', `cat ${join(root, 'ipam')}/*/* 2>/dev/null || true`]).toString();
    assert.doesNotMatch(leases, new RegExp(containerId));
  });

  test('an unknown network fails the launch and leaves no namespace', async () => {
    launchOn('lost', 'true', ['nowhere']);
    const failed = await master.update('lost', 'TASK_FAILED');
    assert.match(failed.status.message ?? '', /Unknown CNI network.*nowhere/);
    // This container's namespace, not any `drover-` one: other test files run tasks on networks meanwhile.
    // The run's directory is named by its container id (Mesos' runs/<container id> layout).
    const containerId = basename(failed.directory!);
    assert.ok(!existsSync(`/run/netns/${netnsName(containerId)}`), `netns ${netnsName(containerId)} left behind`);
  });
});
