import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appVipErrors, parseVipLabel, portVips, vipDnsLabel } from './vip-labels.ts';

describe('VIP labels', () => {
  it('parses named and address VIPs, splitting on the last colon', () => {
    assert.deepEqual(parseVipLabel('/mygroup/MyApp:80'), { ok: true, value: { kind: 'named', name: '/mygroup/myapp', port: 80 } });
    assert.deepEqual(parseVipLabel('acme:10000'), { ok: true, value: { kind: 'named', name: '/acme', port: 10000 } });
    assert.deepEqual(parseVipLabel('10.0.0.1:80'), { ok: true, value: { kind: 'address', ip: '10.0.0.1', port: 80 } });
    assert.equal(vipDnsLabel('/mygroup/myapp'), 'mygroupmyapp');
  });

  it('refuses bad values with a reason', () => {
    for (const [value, reason] of [
      ['/acme', /must be/],
      ['/acme:0', /1\.\.65535/],
      ['/acme:65536', /1\.\.65535/],
      ['/acme:80x', /1\.\.65535/],
      [':80', /must be/],
      ['127.0.0.1:80', /loopback/],
      ['224.0.0.1:80', /multicast/],
      ['fd01::1:80', /IPv6/],
      ['/a b:80', /name segment/],
      ['/a/../b:80', /name segment/],
      [`/${'a'.repeat(300)}:80`, /longer than 256/],
      ['///:80', /empty/],
    ] as const) {
      const parsed = parseVipLabel(value);
      assert.equal(parsed.ok, false, value);
      if (!parsed.ok) assert.match(parsed.reason, reason, value);
    }
  });

  it('reads only VIP-prefixed keys, any case, and bounds their number', () => {
    const { targets, errors } = portVips({ VIP_0: '/a:80', vip_1: '/b:81', HAPROXY_0_VHOST: 'x', VIP_2: 'bad' });
    assert.equal(targets.length, 2);
    assert.deepEqual(errors, [{ path: '/labels/VIP_2', reason: 'must be <name>:<port> or <IPv4>:<port>' }]);
    const many = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`VIP_${i}`, `/n${i}:80`]));
    assert.equal(portVips(many).targets.length, 8);
    assert.equal(portVips(many).errors.length, 2);
  });

  it('names the field of a bad label in an app definition', () => {
    const errors = appVipErrors({ portDefinitions: [{ port: 0 }, { port: 0, labels: { VIP_0: '/x:99999' } }], container: { portMappings: [{ labels: { VIP_0: '1.2.3.4' } }] } });
    assert.deepEqual(
      errors.map((e) => e.path),
      ['/portDefinitions/1/labels/VIP_0', '/container/portMappings/0/labels/VIP_0'],
    );
  });
});
