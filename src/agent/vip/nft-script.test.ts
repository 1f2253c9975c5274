import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelVips, NftUnavailable } from './kernel-vips.ts';
import { vipChainName, vipCleanupScript, vipScript, vipTableName } from './nft-script.ts';

describe('vipScript', () => {
  it('writes one transaction: fixed parts, flushed map and set, one chain per VIP, stale chains deleted', () => {
    const script = vipScript(
      [
        {
          ip: '11.0.0.5',
          port: 80,
          protocol: 'tcp',
          names: ['/a'],
          backends: [
            { ip: '10.0.0.1', port: 31000 },
            { ip: '10.0.0.2', port: 31001 },
          ],
        },
        { ip: '11.0.0.6', port: 53, protocol: 'udp', names: ['/b'], backends: [{ ip: '10.0.0.3', port: 31002 }] },
        { ip: '11.0.0.7', port: 80, protocol: 'tcp', names: ['/c'], backends: [] },
      ],
      { table: 'drover_t', staleChains: ['v-11-0-0-9-80-tcp'] },
    );
    const lines = script.trim().split('\n');
    assert.ok(lines.includes('add rule ip drover_t v-11-0-0-5-80-tcp meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.0.0.1 . 31000, 1 : 10.0.0.2 . 31001 }'));
    assert.ok(lines.includes('add rule ip drover_t v-11-0-0-6-53-udp meta l4proto udp dnat ip to 10.0.0.3:31002'));
    assert.ok(lines.includes('add rule ip drover_t v-11-0-0-7-80-tcp reject with tcp reset'));
    assert.ok(lines.includes('add element ip drover_t vip_addrs { 11.0.0.5, 11.0.0.6, 11.0.0.7 }'));
    // the map is refilled after its flush, and stale chains go last (nothing points at them then)
    assert.ok(lines.indexOf('flush map ip drover_t vips') < lines.findIndex((l) => l.startsWith('add element ip drover_t vips')));
    assert.equal(lines.at(-1), 'delete chain ip drover_t v-11-0-0-9-80-tcp');
    // base chains are declared with `add` (kept), never deleted
    assert.ok(!lines.some((l) => /delete (table|chain ip drover_t (prerouting|output|postrouting))/.test(l)));
  });

  it('bounds the table name and names chains by address, port and protocol', () => {
    assert.equal(vipTableName(), 'drover');
    assert.equal(vipTableName('t1'), 'drovert1');
    assert.throws(() => vipTableName('x; flush ruleset'), /must match/);
    assert.equal(vipChainName({ ip: '11.1.2.3', port: 443, protocol: 'tcp' }), 'v-11-1-2-3-443-tcp');
    assert.equal(vipCleanupScript('drover'), 'add table ip drover\ndelete table ip drover\n');
  });
});

describe('KernelVips', () => {
  it('says at start that nft cannot be run, instead of failing every update later', async () => {
    const kernel = new KernelVips({ table: 'drover_x', nft: '/nonexistent/nft' });
    await assert.rejects(kernel.start(), (e: unknown) => e instanceof NftUnavailable && /cannot run \/nonexistent\/nft/.test(e.message));
  });

  it('refuses a namespace name that is not a plain name', () => {
    assert.throws(() => new KernelVips({ table: 'drover', netns: 'a b; rm -rf /' }), /not a plain name/);
  });
});
