/**
 * The body of the DNS thread (dns-thread.ts starts it): a replica of the zone, fed by the
 * changes the owning thread posts, and the DNS server answering from it. Nothing here waits for
 * the master's event loop: a query is answered even while the master handles a burst.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { DnsServer, type DnsServerOptions } from './dns-server.ts';
import type { ZoneRecord } from './records.ts';
import { Zone } from './zone.ts';
import type { FromDnsThread, ToDnsThread, ZoneMessage } from './dns-thread.ts';

const port = parentPort;
if (!port) throw new Error('dns-thread-body.ts runs in a worker thread');
const { zonePort, ...options } = workerData as Omit<DnsServerOptions, 'zone' | 'recovered' | 'logger'> & { zonePort: MessagePort };
/** This thread's nice value when allowed (dns-thread.ts says why); else it stays as it is. */
const PRIORITY = -10;
try {
  // /proc/thread-self is this thread's /proc/<pid>/task/<tid>: setpriority on a thread id changes only that thread.
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, PRIORITY);
} catch {
  // Not Linux, or not allowed (no CAP_SYS_NICE): the default priority.
}
/**
 * This thread's CPU time in ms (utime + stime of /proc/thread-self/stat, in clock ticks of 10 ms);
 * NaN off Linux. Read only when the counters are asked for (the bench), never per query.
 */
function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    // The fields after the command name (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
const zone = new Zone();
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let recovered = false;
const post = (message: FromDnsThread): void => port.postMessage(message);
const apply = (message: ZoneMessage): void => {
  for (const [source, records] of message.changes) zone.set(source, records as ZoneRecord[]);
  if (message.recovered !== undefined) recovered = message.recovered;
};
zonePort.on('message', apply);
/** The changes posted but not yet delivered by the event loop, applied now (before a query is answered). */
const catchUp = (): void => {
  for (let m = receiveMessageOnPort(zonePort); m !== undefined; m = receiveMessageOnPort(zonePort)) apply(m.message as ZoneMessage);
};
const server = new DnsServer({
  ...options,
  zone,
  recovered: () => recovered,
  beforeAnswer: catchUp,
  logger: {
    warn: (fields: { err?: unknown }, msg: string) => post({ type: 'warn', msg, error: String(fields?.err ?? '') }),
  } as unknown as NonNullable<DnsServerOptions['logger']>,
});

port.on('message', (message: ToDnsThread) => {
  switch (message.type) {
    case 'counters':
      post({ type: 'counters', id: message.id, counters: { ...server.counters }, loopDelayP99Ms: delay.percentile(99) / 1e6, loopDelayMaxMs: delay.max / 1e6, cpuMs: threadCpuMs() });
      return;
    case 'close':
      void server.close().then(() => {
        post({ type: 'closed' });
        zonePort.close();
        port.close();
      });
      return;
  }
});

server.listen().then(
  () => post({ type: 'listening', port: server.port }),
  (e: unknown) => post({ type: 'failed', error: (e as Error).message, code: (e as NodeJS.ErrnoException).code ?? '' }),
);
