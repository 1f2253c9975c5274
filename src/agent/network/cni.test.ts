import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewaysOf, loadNetworkConfigs, netnsName, networkInfosStatus, requestedNetworks } from './cni.ts';

describe('CNI helpers', () => {
  test('requestedNetworks reads Mesos ContainerInfo.network_infos names, in order', () => {
    assert.deepEqual(requestedNetworks({ type: 'MESOS', network_infos: [{ name: 'dev' }, { name: 'data' }] }), ['dev', 'data']);
    assert.deepEqual(requestedNetworks(undefined), []);
    assert.deepEqual(requestedNetworks({ type: 'MESOS' }), []);
    // Unnamed entries (Mesos' host network) are not CNI networks.
    assert.deepEqual(requestedNetworks({ network_infos: [{}, { name: '' }, { name: 'x' }] }), ['x']);
  });

  test('networkInfosStatus is Mesos ContainerStatus.network_infos', () => {
    assert.deepEqual(networkInfosStatus([{ name: 'dev', ifname: 'eth0', ipAddresses: ['10.99.1.2', 'fd00::2'] }]), [
      {
        name: 'dev',
        ip_addresses: [
          { ip_address: '10.99.1.2', protocol: 'IPv4' },
          { ip_address: 'fd00::2', protocol: 'IPv6' },
        ],
      },
    ]);
  });

  test("gatewaysOf reads a CNI result's IPv4 gateways (where a task's resolver can be reached)", () => {
    assert.deepEqual(
      gatewaysOf({
        cniVersion: '0.4.0',
        ips: [
          { version: '4', address: '172.30.0.5/16', gateway: '172.30.0.1' },
          { address: 'fd00::5/64', gateway: 'fd00::1' },
        ],
      }),
      ['172.30.0.1'],
    );
    assert.deepEqual(gatewaysOf({ ips: [{ address: '10.0.0.2/24' }] }), []);
    assert.deepEqual(gatewaysOf(undefined), []);
    assert.deepEqual(gatewaysOf({ ips: 'x' }), []);
  });

  test('netnsName is a safe file name', () => {
    assert.equal(netnsName('0b1c-2d'), 'drover-0b1c-2d');
    assert.equal(netnsName('../x y'), 'drover-.._x_y');
  });

  test('loads .conf and .conflist by name, skipping broken files and duplicates (first wins)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-cni-conf-'));
    try {
      await writeFile(join(dir, '10-a.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'a', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }));
      await writeFile(join(dir, '20-b.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'b', type: 'bridge', bridge: 'br-b' }));
      await writeFile(join(dir, '30-a-again.conf'), JSON.stringify({ name: 'a', type: 'ptp' }));
      await writeFile(join(dir, '40-broken.conf'), '{ not json');
      await writeFile(join(dir, '50-notype.conflist'), JSON.stringify({ name: 'c', plugins: [{}] }));
      await writeFile(join(dir, 'README'), 'ignored');
      const configs = await loadNetworkConfigs(dir);
      assert.deepEqual([...configs.keys()], ['a', 'b']);
      assert.deepEqual(
        configs.get('a')!.plugins.map((p) => p.type),
        ['bridge', 'portmap'],
      );
      assert.deepEqual(configs.get('b'), { cniVersion: '0.4.0', name: 'b', plugins: [{ cniVersion: '0.4.0', name: 'b', type: 'bridge', bridge: 'br-b' }] });
      assert.equal((await loadNetworkConfigs(join(dir, 'missing'))).size, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
