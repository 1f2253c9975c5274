/**
 * A minimal DNS client for `drover dns lookup --server` and the bench: one question over UDP,
 * again over TCP when the answer is truncated. Bounded by a timeout.
 */
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { tcpExchange, udpExchange, type Upstream } from './dns-server.ts';

export interface DnsAnswer {
  rcode: string;
  answers: Array<{ name: string; type: string; ttl?: number; data: unknown }>;
  additionals: Array<{ name: string; type: string; data: unknown }>;
  truncated: boolean;
  transport: 'udp' | 'tcp';
}

export function queryBytes(name: string, type: string, id = randomInt(0, 65536)): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as dnsPacket.RecordType, name }] });
}

function parse(bytes: Buffer, transport: 'udp' | 'tcp'): DnsAnswer {
  const p = dnsPacket.decode(bytes);
  return {
    rcode: (p as { rcode?: string }).rcode ?? 'NOERROR',
    answers: (p.answers ?? []).map((a) => ({ name: a.name, type: a.type, ttl: (a as { ttl?: number }).ttl, data: (a as { data?: unknown }).data })),
    additionals: (p.additionals ?? []).filter((a) => a.type !== 'OPT').map((a) => ({ name: a.name, type: a.type, data: (a as { data?: unknown }).data })),
    truncated: ((p.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0,
    transport,
  };
}

export async function lookup(server: Upstream, name: string, type: string, options: { tcp?: boolean; timeoutMs?: number } = {}): Promise<DnsAnswer> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const msg = queryBytes(name, type);
  if (options.tcp) return parse(await tcpExchange(msg, server, timeoutMs), 'tcp');
  const answer = parse(await udpExchange(msg, server, timeoutMs), 'udp');
  if (!answer.truncated) return answer;
  return parse(await tcpExchange(msg, server, timeoutMs), 'tcp');
}
