/**
 * The DNS server: UDP and TCP on one port, answering the discovery zones (`<domain>`, `mesos` by
 * default, and `thisdcos.directory`) from the Zone, and forwarding every other name to the host's
 * resolvers (/etc/resolv.conf) as raw packets.
 *
 * Wire format: `dns-packet` (encode/decode of RFC 1035 messages with EDNS and SRV; a small,
 * widely used, dependency-light module made for exactly this) — parsing DNS by hand is where
 * servers get their crashes from.
 *
 * Bounds: a malformed or oversized message is dropped (UDP) or answered FORMERR, never thrown; a
 * TCP connection is closed after an idle timeout, a frame over 64 KiB or too many connections;
 * forwarding has a timeout per upstream and a cap on queries in flight (SERVFAIL beyond it).
 * Answers over the client's UDP size (512, or its EDNS size up to 1232) are sent truncated (TC)
 * so the client asks again over TCP.
 *
 * Answers are cached as encoded bytes by question (and the RD bit), each with the names it read
 * (the question's name, SRV targets, `ns1`). A zone change drops, synchronously, the answers that
 * read a name it touched (zone.ts' `ZoneListener`), so the very next query sees it, and an answer
 * about another name stays cached: a burst of 1,000 task changes does not make every query an
 * encode. Answers that carry the SOA (negative answers, the apex's SOA) carry its serial, the
 * zone's generation: they are kept only until the next change of any name.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, isIPv4, isIPv6, type Server, connect } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Logger } from '../log/index.ts';
import type { NameRecords, Zone } from './zone.ts';
import { DCOS_ZONE } from './records.ts';

type Answer = dnsPacket.Answer;
type Question = dnsPacket.Question;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const FLAG_AA = 1 << 10;
const FLAG_TC = 1 << 9;
const FLAG_RD = 1 << 8;
const FLAG_RA = 1 << 7;

const MAX_MESSAGE = 65535;
const CLASSIC_UDP = 512;
/** Largest UDP answer we send even when the client offers more (the DNS flag day's advice). */
const MAX_UDP_ANSWER = 1232;
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 512;
const MAX_FORWARDS_IN_FLIGHT = 256;
const MAX_CACHE_ENTRIES = 20_000;
/** Bound on the names all cached answers read together (an SRV answer reads each target). */
const MAX_CACHE_READS = 200_000;

export interface Upstream {
  host: string;
  port: number;
}

export interface DnsServerOptions {
  zone: Zone;
  /** Discovery domain (Mesos-DNS `domain`), `mesos`. */
  domain: string;
  /** False while a restarted master still waits for agents: unknown names get SERVFAIL, never NXDOMAIN. */
  recovered: () => boolean;
  port: number;
  host: string;
  /** Record TTL in seconds (Mesos-DNS: 60). Drover's answers change on events, so short by default. */
  ttl?: number;
  /** Where other names go; default the nameservers of /etc/resolv.conf. Empty: REFUSED. */
  upstreams?: Upstream[];
  /**
   * Where the discovery zones' names go instead of the local zone (an agent's resolver,
   * agent-dns.ts: the master's DNS answers them, so there is one zone and one source of truth).
   * Default: answered from `zone`.
   */
  zoneUpstreams?: Upstream[];
  /** Per-upstream timeout of a forwarded query (Mesos-DNS `timeout`: 5 s). */
  forwardTimeoutMs?: number;
  /**
   * Called before each query is answered, cached or not: a replica of the zone applies the
   * changes posted to it that its event loop has not got to yet (dns-thread-body.ts).
   */
  beforeAnswer?: () => void;
  logger?: Logger;
}

/** The nameservers of a resolv.conf text (at most 3, as the C library reads). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n').slice(0, 1000)) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line.slice(0, 512));
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, '');
    if (isIPv4(host) || isIPv6(host)) out.push({ host, port: 53 });
    if (out.length === 3) break;
  }
  return out;
}

export function hostResolvers(path = '/etc/resolv.conf'): Upstream[] {
  try {
    return parseResolvConf(readFileSync(path, 'utf8').slice(0, 64 * 1024));
  } catch {
    return [];
  }
}

export interface DnsCounters {
  queries: number;
  answered: number;
  /** Of `answered`, those sent from the answer cache. */
  cached: number;
  nxdomain: number;
  servfail: number;
  forwarded: number;
  malformed: number;
}

export class DnsServer {
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly ttl: number;
  private readonly upstreams: Upstream[];
  private readonly forwardTimeoutMs: number;
  private readonly suffix: string;
  /** Answers without the SOA: kept until a name they read changes. */
  private readonly cache = new Map<string, { bytes: Buffer; reads: readonly string[] }>();
  /** name → the key of the cached answer that reads it, or the keys when several do (most names are read by one: no Set for them). */
  private readonly readers = new Map<string, string | Set<string>>();
  private cacheReads = 0;
  /** Answers with the SOA (its serial is the zone's generation): kept while the generation is `serialGeneration`. */
  private readonly serialCache = new Map<string, Buffer>();
  private serialGeneration = -1;
  private readonly unfollowZone: () => void;
  /**
   * A hash of each question recently answered from the zone, by slot: an answer is kept from its
   * second asking on. During a burst each new name is asked once, and keeping 1,000 answers
   * nobody asks again cost the DNS thread more garbage collection than encoding them (the
   * profile: GC time 2.5×). A slot taken by another question counts as asked (it errs towards
   * keeping: two questions sharing a slot must not keep each other out of the cache, as dnsperf's
   * 2,000 names did with 4,096 slots); the table is emptied once half its slots were written.
   * Never a wrong answer either way: what is kept is dropped when a name it read changes.
   */
  private readonly askedOnce = new Int32Array(65_536);
  private askedWrites = 0;
  private forwardsInFlight = 0;
  private tcpConnections = 0;
  private boundPort = 0;
  readonly counters: DnsCounters = { queries: 0, answered: 0, cached: 0, nxdomain: 0, servfail: 0, forwarded: 0, malformed: 0 };

  constructor(private readonly options: DnsServerOptions) {
    this.ttl = options.ttl ?? 5;
    this.upstreams = options.upstreams ?? hostResolvers();
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 2000;
    this.suffix = `.${options.domain}`;
    // Synchronous: the replica's catch-up (beforeAnswer) applies a change and drops what it made stale before the query is answered.
    this.unfollowZone = options.zone.onChange((_source, _records, touched) => this.forget(touched));
  }

  get port(): number {
    return this.boundPort;
  }

  /** Bind UDP and TCP on the same port (a free one for port 0: tried again if its TCP twin is taken). */
  async listen(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.bind();
      } catch (e) {
        if (this.options.port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw e;
      }
    }
  }

  private async bind(): Promise<void> {
    const type = isIPv6(this.options.host) ? 'udp6' : 'udp4';
    // A larger receive buffer: queries that arrive while the master's event loop is busy wait in it instead of being dropped.
    const udp = createSocket({ type, reuseAddr: false, recvBufferSize: 4 * 1024 * 1024 });
    udp.on('message', (msg, rinfo) => this.onUdp(udp, msg, rinfo));
    udp.on('error', (err) => this.options.logger?.warn({ err }, 'dns-udp-error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.options.port, this.options.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    const port = udp.address().port;
    const tcp = createServer((socket) => this.onTcp(socket));
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, this.options.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      this.udp = undefined;
      throw e;
    }
    tcp.on('error', (err) => this.options.logger?.warn({ err }, 'dns-tcp-error'));
    this.tcp = tcp;
    this.boundPort = port;
  }

  async close(): Promise<void> {
    this.unfollowZone();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  // ---- transports ---------------------------------------------------------------------------

  private onUdp(socket: Socket, msg: Buffer, rinfo: RemoteInfo): void {
    // The zone up to date before anything is read from it (DnsServerOptions.beforeAnswer).
    this.options.beforeAnswer?.();
    // The zone's answers are made here, in this turn, without a promise; only forwarding waits.
    const now = this.answerNow(msg, 'udp');
    if (now === undefined) return;
    if (!('forward' in now)) {
      socket.send(now, rinfo.port, rinfo.address);
      return;
    }
    void this.forward(msg, 'udp', now.forward).then(
      (answer) => {
        if (answer && this.udp === socket) socket.send(answer, rinfo.port, rinfo.address);
      },
      (err: unknown) => this.options.logger?.warn({ err }, 'dns-answer-failed'),
    );
  }

  private onTcp(socket: import('node:net').Socket): void {
    this.tcpConnections++;
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.tcpConnections--);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered.length > 2 + MAX_MESSAGE) {
        socket.destroy();
        return;
      }
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const msg = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        this.options.beforeAnswer?.();
        void this.respond(Buffer.from(msg), 'tcp').then(
          (answer) => {
            if (!answer || socket.destroyed) return;
            const frame = Buffer.allocUnsafe(2 + answer.length);
            frame.writeUInt16BE(answer.length, 0);
            answer.copy(frame, 2);
            socket.write(frame);
          },
          () => socket.destroy(),
        );
      }
    });
  }

  // ---- answers ------------------------------------------------------------------------------

  /** The answer to one message, or undefined to send nothing (not a query, unparseable). */
  async respond(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const now = this.answerNow(msg, transport);
    return now !== undefined && 'forward' in now ? this.forward(msg, transport, now.forward) : now;
  }

  /** The answer from the cache or the zone; or where to forward the message; or undefined to send nothing. */
  private answerNow(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined | { forward: readonly Upstream[] } {
    const cached = this.cachedAnswer(msg, transport);
    if (cached) return cached;
    this.counters.queries++;
    if (msg.length < 12 || msg.length > MAX_MESSAGE) {
      this.counters.malformed++;
      return undefined;
    }
    // A response (QR set) is never answered: that would make two servers ping-pong forever.
    if ((msg[2]! & 0x80) !== 0) {
      this.counters.malformed++;
      return undefined;
    }
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      this.counters.malformed++;
      return this.errorAnswer(msg, RCODE.FORMERR);
    }
    const question = query.questions?.[0];
    const opcode = (msg[2]! >> 3) & 0x0f;
    if (opcode !== 0) return this.errorAnswer(msg, RCODE.NOTIMP);
    if (!question || query.questions!.length !== 1 || typeof question.name !== 'string') return this.errorAnswer(msg, RCODE.FORMERR);
    const name = question.name.toLowerCase().replace(/\.$/, '');
    if (!this.inZone(name)) return { forward: this.upstreams };
    // Forwarded, never cached here: the master's answer changes with its events.
    if (this.options.zoneUpstreams !== undefined) return { forward: this.options.zoneUpstreams };
    const answer = this.authoritative(query, question, name, transport);
    if (answer.cacheable && msg.length <= CLASSIC_UDP && this.askedBefore(msg, transport)) this.remember(this.cacheKey(msg, transport), answer.bytes, answer.reads);
    this.counters.answered++;
    return Buffer.from(answer.bytes);
  }

  private cacheKey(msg: Buffer, transport: 'udp' | 'tcp'): string {
    return `${transport}${msg[2]! & 0x01}${msg.subarray(12).toString('latin1')}`;
  }

  /** The encoded answer to the same question (same RD bit, same EDNS) if nothing it read has changed since, with this query's id. */
  private cachedAnswer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    if (msg.length < 12 || msg.length > CLASSIC_UDP || (msg[2]! & 0x80) !== 0) return undefined;
    const key = this.cacheKey(msg, transport);
    let cached = this.cache.get(key)?.bytes;
    if (!cached && this.serialCache.size > 0) {
      if (this.serialGeneration === this.options.zone.generation) cached = this.serialCache.get(key);
      else this.serialCache.clear();
    }
    if (!cached) return undefined;
    const out: Buffer = Buffer.from(cached);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    this.counters.queries++;
    this.counters.answered++;
    this.counters.cached++;
    return out;
  }

  /** True if this question was asked before (since its slot was last taken); notes it otherwise. */
  private askedBefore(msg: Buffer, transport: 'udp' | 'tcp'): boolean {
    // FNV-1a over the bytes the cache key holds (RD bit, question and EDNS), and the transport.
    let h = transport === 'tcp' ? 0x811c9dc5 ^ 1 : 0x811c9dc5;
    h = Math.imul(h ^ (msg[2]! & 0x01), 0x01000193);
    for (let i = 12; i < msg.length; i++) h = Math.imul(h ^ msg[i]!, 0x01000193);
    h |= 1; // never 0, the empty slot
    const slot = (h >>> 0) % this.askedOnce.length;
    const seen = this.askedOnce[slot]!;
    if (seen === h) return true;
    if (++this.askedWrites > this.askedOnce.length / 2) {
      this.askedOnce.fill(0);
      this.askedWrites = 1;
    }
    this.askedOnce[slot] = h;
    return seen !== 0;
  }

  /** Keep an answer: with the names it read, or (`reads` undefined: it carries the SOA) for this generation of the zone. */
  private remember(key: string, bytes: Buffer, reads: readonly string[] | undefined): void {
    if (reads === undefined) {
      const generation = this.options.zone.generation;
      if (this.serialGeneration !== generation) {
        this.serialCache.clear();
        this.serialGeneration = generation;
      }
      if (this.serialCache.size < MAX_CACHE_ENTRIES) this.serialCache.set(key, bytes);
      return;
    }
    if (this.cache.size >= MAX_CACHE_ENTRIES || this.cacheReads + reads.length > MAX_CACHE_READS) return;
    this.drop(key);
    this.cache.set(key, { bytes, reads });
    this.cacheReads += reads.length;
    for (const name of reads) {
      const keys = this.readers.get(name);
      if (keys === undefined) this.readers.set(name, key);
      else if (typeof keys === 'string') {
        if (keys !== key) this.readers.set(name, new Set([keys, key]));
      } else keys.add(key);
    }
  }

  private drop(key: string): void {
    const entry = this.cache.get(key);
    if (!entry) return;
    this.cache.delete(key);
    this.cacheReads -= entry.reads.length;
    for (const name of entry.reads) {
      const keys = this.readers.get(name);
      if (keys === key) this.readers.delete(name);
      else if (typeof keys === 'object') {
        keys.delete(key);
        if (keys.size === 0) this.readers.delete(name);
      }
    }
  }

  /** A zone change: the answers that read a name it touched go (the others stay: their names did not change). */
  private forget(touched: readonly string[]): void {
    for (const name of touched) {
      const keys = this.readers.get(name);
      if (typeof keys === 'string') this.drop(keys);
      else if (keys) for (const key of [...keys]) this.drop(key);
    }
  }

  private inZone(name: string): boolean {
    return name === this.options.domain || name.endsWith(this.suffix) || name === DCOS_ZONE || name.endsWith(`.${DCOS_ZONE}`);
  }

  private errorAnswer(msg: Buffer, rcode: number): Buffer {
    // Header only: id, QR + opcode + RD copied, the rcode; no sections (the question may be what was wrong).
    const out = Buffer.alloc(12);
    out[0] = msg[0]!;
    out[1] = msg[1]!;
    out[2] = 0x80 | (msg[2]! & 0x79);
    out[3] = rcode & 0x0f;
    if (rcode === RCODE.SERVFAIL) this.counters.servfail++;
    return out;
  }

  private zoneApex(name: string): string {
    return name === DCOS_ZONE || name.endsWith(`.${DCOS_ZONE}`) ? DCOS_ZONE : this.options.domain;
  }

  private soa(apex: string): Answer {
    return {
      type: 'SOA',
      name: apex,
      ttl: this.ttl,
      data: { mname: `ns1.${this.options.domain}`, rname: `root.ns1.${this.options.domain}`, serial: this.options.zone.generation >>> 0, refresh: 60, retry: 600, expire: 86400, minimum: this.ttl },
    } as Answer;
  }

  /**
   * The zone's answer to one question; `reads`: the names it was made from (undefined when it
   * carries the SOA, whose serial changes with every change of the zone).
   */
  private authoritative(query: dnsPacket.Packet, question: Question, name: string, transport: 'udp' | 'tcp'): { bytes: Buffer; cacheable: boolean; reads: string[] | undefined } {
    const zone = this.options.zone;
    const records = zone.lookup(name);
    // The question's name (its records, and whether names lie below it: its ancestors' changes reach it as `touched`).
    const reads = [name];
    const apex = this.zoneApex(name);
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const authorities: Answer[] = [];
    let rcode: number = RCODE.NOERROR;
    let cacheable = true;
    const type: string = question.type;
    if (name === apex && (type === 'SOA' || type === 'ANY')) answers.push(this.soa(apex));
    if (name === apex && (type === 'NS' || type === 'ANY')) {
      answers.push({ type: 'NS', name: apex, ttl: this.ttl, data: `ns1.${this.options.domain}` } as Answer);
      reads.push(`ns1.${this.options.domain}`);
      for (const ip of zone.lookup(`ns1.${this.options.domain}`)?.a ?? []) additionals.push({ type: 'A', name: `ns1.${this.options.domain}`, ttl: this.ttl, data: ip } as Answer);
    }
    if (records) {
      if (type === 'A' || type === 'ANY') for (const ip of rotate(records.a)) answers.push({ type: 'A', name: question.name, ttl: this.ttl, data: ip } as Answer);
      if (type === 'SRV' || type === 'ANY') {
        for (const r of rotate(records.srv)) {
          answers.push({ type: 'SRV', name: question.name, ttl: this.ttl, data: { priority: r.priority, weight: r.weight, port: r.port, target: r.target } } as Answer);
          reads.push(r.target);
          for (const ip of zone.lookup(r.target)?.a ?? []) additionals.push({ type: 'A', name: r.target, ttl: this.ttl, data: ip } as Answer);
        }
      }
      // Several records are rotated (rudimentary balancing, as Mesos-DNS shuffles them) each
      // time the name changes and the answer is encoded again; between changes the cached order is served.
    }
    if (answers.length === 0) {
      const exists = records !== undefined || name === apex || zone.hasUnder(name);
      if (!exists) {
        if (this.options.recovered()) {
          rcode = RCODE.NXDOMAIN;
          this.counters.nxdomain++;
        } else {
          // A restarted master before its agents re-registered: the name may be a live task not reported yet.
          rcode = RCODE.SERVFAIL;
          this.counters.servfail++;
          cacheable = false;
        }
      }
      if (rcode !== RCODE.SERVFAIL) authorities.push(this.soa(apex));
    }
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const limit = transport === 'tcp' ? MAX_MESSAGE : opt ? Math.min(MAX_UDP_ANSWER, Math.max(CLASSIC_UDP, opt.udpPayloadSize ?? CLASSIC_UDP)) : CLASSIC_UDP;
    const flags = FLAG_AA | ((query.flags ?? 0) & FLAG_RD) | (this.upstreams.length > 0 ? FLAG_RA : 0) | rcode;
    const edns = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_ANSWER, flags: 0, options: [] } as unknown as Answer] : [];
    const packet = (withData: boolean, tc: boolean): Buffer =>
      dnsPacket.encode({
        type: 'response',
        id: query.id ?? 0,
        flags: flags | (tc ? FLAG_TC : 0),
        questions: [question],
        answers: withData ? answers : [],
        authorities: withData ? authorities : [],
        additionals: [...(withData ? additionals : []), ...edns],
      });
    let bytes = packet(true, false);
    if (bytes.length > limit) {
      // Without the extra addresses first (the client can ask for them); else truncated, to be asked over TCP.
      additionals.length = 0;
      bytes = packet(true, false);
      if (bytes.length > limit) bytes = packet(false, true);
    }
    const withSoa = answers.some((x) => x.type === 'SOA') || authorities.length > 0;
    return { bytes, cacheable, reads: withSoa ? undefined : reads };
  }

  // ---- forwarding ---------------------------------------------------------------------------

  private async forward(msg: Buffer, transport: 'udp' | 'tcp', upstreams: readonly Upstream[]): Promise<Buffer | undefined> {
    if (upstreams.length === 0) return this.errorAnswer(msg, RCODE.REFUSED);
    if (this.forwardsInFlight >= MAX_FORWARDS_IN_FLIGHT) return this.errorAnswer(msg, RCODE.SERVFAIL);
    this.forwardsInFlight++;
    this.counters.forwarded++;
    try {
      for (const upstream of upstreams) {
        if (this.isSelf(upstream)) continue;
        const answer = await udpExchange(msg, upstream, this.forwardTimeoutMs).catch(() => undefined);
        if (!answer) continue;
        // Truncated upstream answer for a TCP client: ask again over TCP.
        if (transport === 'tcp' && answer.length >= 4 && (answer[2]! & 0x02) !== 0) {
          const full = await tcpExchange(msg, upstream, this.forwardTimeoutMs).catch(() => undefined);
          if (full) return full;
        }
        return answer;
      }
      return this.errorAnswer(msg, RCODE.SERVFAIL);
    } finally {
      this.forwardsInFlight--;
    }
  }

  private isSelf(upstream: Upstream): boolean {
    if (upstream.port !== this.boundPort) return false;
    const host = this.options.host;
    return upstream.host === host || host === '0.0.0.0' || host === '::' || (upstream.host.startsWith('127.') && host.startsWith('127.'));
  }
}

function rotate<T>(list: readonly T[]): readonly T[] {
  if (list.length < 2) return list;
  const at = Math.floor(Math.random() * list.length);
  return [...list.slice(at), ...list.slice(0, at)];
}

/** One query to `upstream` over UDP: the answer with the same id, or a rejection on timeout. */
export function udpExchange(msg: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(upstream.host) ? 'udp6' : 'udp4');
    const done = (error: Error | undefined, answer?: Buffer): void => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(answer!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${upstream.host}:${upstream.port} in ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => done(err));
    socket.on('message', (answer) => {
      // Only the answer to this query (same id) from that server counts.
      if (answer.length >= 12 && answer[0] === msg[0] && answer[1] === msg[1]) done(undefined, answer);
    });
    socket.send(msg, upstream.port, upstream.host, (err) => {
      if (err) done(err);
    });
  });
}

/** One query over TCP (length-prefixed), bounded by the timeout and the 64 KiB frame. */
export function tcpExchange(msg: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered: Buffer = Buffer.alloc(0);
    const done = (error: Error | undefined, answer?: Buffer): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(answer!);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no TCP answer from ${upstream.host}:${upstream.port} in ${timeoutMs} ms`)));
    socket.on('error', (err) => done(err));
    socket.on('connect', () => {
      const frame = Buffer.allocUnsafe(2 + msg.length);
      frame.writeUInt16BE(msg.length, 0);
      msg.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > 2 + MAX_MESSAGE) return done(new Error('answer too long'));
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) done(undefined, Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0))));
    });
    socket.on('end', () => done(new Error('connection closed before an answer')));
  });
}

export type { NameRecords };
