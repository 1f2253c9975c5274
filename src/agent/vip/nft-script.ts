/**
 * The nftables program for a VIP table, as one `nft -f` script (pure; nft-runner.ts runs it).
 * nft applies a whole script as ONE kernel transaction: every reader sees the old rules or the
 * new ones, never a VIP with half its backends or none (docs/architecture/011-vips.md).
 *
 * ```
 * table ip drover<suffix>
 *   map vips        ip daddr . l4proto . dport → goto v-<ip>-<port>-<proto>
 *   set vip_addrs   every VIP address (for the masquerade below)
 *   chain prerouting  (nat, -100)    traffic from tasks in their own namespaces: vmap @vips
 *   chain output      (nat, -100)    traffic from the host itself:               vmap @vips
 *   chain postrouting (nat, 100)     DNATed VIP flows leave with the host's address (masquerade)
 *   chain v-…         one per VIP:  dnat to numgen random mod N map { i : backend i } | reject
 * ```
 *
 * Each update re-declares the fixed parts with `add` (a no-op when they exist), flushes and
 * refills the map, the set and each VIP chain, and deletes the chains of VIPs that are gone. The
 * base chains are never deleted while running, so the kernel's NAT hooks stay registered and
 * established flows keep their conntrack translation: NAT rules are consulted only for a flow's
 * first packet.
 */
import type { VipEntry } from './table.ts';

/** Table names: `drover` plus an optional suffix of [a-z0-9_] (tests use a random one). */
export function vipTableName(suffix = ''): string {
  if (!/^[a-z0-9_]{0,24}$/.test(suffix)) throw new Error(`VIP table suffix ${JSON.stringify(suffix.slice(0, 30))} must match [a-z0-9_]{0,24}`);
  return `drover${suffix}`;
}

export function vipChainName(entry: Pick<VipEntry, 'ip' | 'port' | 'protocol'>): string {
  return `v-${entry.ip.split('.').join('-')}-${entry.port}-${entry.protocol}`;
}

export interface VipScriptOptions {
  table: string;
  /** Chains of VIPs programmed before that are not in `entries` (deleted in the same transaction). */
  staleChains: readonly string[];
}

function dnatRule(entry: VipEntry): string {
  const b = entry.backends;
  // No backend: refuse at once (a TCP reset / ICMP unreachable) instead of a silent timeout.
  if (b.length === 0) return entry.protocol === 'tcp' ? 'reject with tcp reset' : 'reject';
  // nft wants the transport protocol matched before it rewrites a port.
  const match = `meta l4proto ${entry.protocol}`;
  if (b.length === 1) return `${match} dnat ip to ${b[0]!.ip}:${b[0]!.port}`;
  const elements = b.map((x, i) => `${i} : ${x.ip} . ${x.port}`).join(', ');
  return `${match} dnat ip to numgen random mod ${b.length} map { ${elements} }`;
}

export function vipScript(entries: readonly VipEntry[], options: VipScriptOptions): string {
  const t = `ip ${options.table}`;
  const lines = [
    `add table ${t}`,
    `add map ${t} vips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `add set ${t} vip_addrs { type ipv4_addr ; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority -100 ; policy accept ; }`,
    `add chain ${t} output { type nat hook output priority -100 ; policy accept ; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority 100 ; policy accept ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting ip daddr . meta l4proto . th dport vmap @vips`,
    `flush chain ${t} output`,
    `add rule ${t} output ip daddr . meta l4proto . th dport vmap @vips`,
    `flush chain ${t} postrouting`,
    // A backend on this host is reached over lo, where the original source is right already.
    `add rule ${t} postrouting ct status dnat ct original ip daddr @vip_addrs oifname != "lo" masquerade`,
    `flush map ${t} vips`,
    `flush set ${t} vip_addrs`,
  ];
  for (const e of entries) {
    const chain = vipChainName(e);
    lines.push(`add chain ${t} ${chain}`, `flush chain ${t} ${chain}`, `add rule ${t} ${chain} ${dnatRule(e)}`);
  }
  if (entries.length > 0) {
    lines.push(`add element ${t} vips { ${entries.map((e) => `${e.ip} . ${e.protocol} . ${e.port} : goto ${vipChainName(e)}`).join(', ')} }`);
    lines.push(`add element ${t} vip_addrs { ${[...new Set(entries.map((e) => e.ip))].join(', ')} }`);
  }
  for (const chain of options.staleChains) lines.push(`delete chain ${t} ${chain}`);
  return `${lines.join('\n')}\n`;
}

/** Removes the table whether or not it exists (`add` first: `delete` alone fails on a missing one). */
export function vipCleanupScript(table: string): string {
  return `add table ip ${table}\ndelete table ip ${table}\n`;
}
