/**
 * The discovery bench's propagation prober (bench/discovery.ts forks it): a process of its own,
 * so neither the master's event loop nor its threads' heap and CPU time are its. The master's
 * process sends it, over the fork's IPC channel, each TASK_RUNNING's instance name with the
 * moment the master published the event (wall clock: performance.timeOrigin + now(), the same
 * clock in every process); this process asks the DNS server for the name over real UDP until it
 * answers — again at once on a negative answer, again after 1 s without a reply as a resolver
 * would — and reports the time from that moment to the first answer with the name.
 *
 * At the same moments it asks a dnsmasq for a name dnsmasq has had all along (`baselinePort`):
 * the same client, the same socket code, the same scheduling; what that takes is what this loaded
 * machine costs any DNS server, and the rest of Drover's figure is Drover's.
 *
 * It asks for nice -10 (root or CAP_SYS_NICE; else it stays as it is), the priority of Drover's
 * DNS thread: on a machine loaded by other work a client at the default priority measured its own
 * wait for a CPU (and so did the dnsmasq baseline, which bench/discovery.ts starts at the same
 * priority). It reports the priority it got.
 *
 * Plain JavaScript (no loader to start): argv is `DNS_PORT BASELINE_PORT BASELINE_NAME DNS_PACKET_PATH`.
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { getPriority, setPriority } from 'node:os';

const [dnsPort, baselinePort, baselineName, dnsPacketPath] = process.argv.slice(2);
try {
  setPriority(-10);
} catch {
  // Not allowed: the default priority.
}
const dnsPacket = createRequire(import.meta.url)(dnsPacketPath);
const now = () => performance.timeOrigin + performance.now();
const send = (m) => process.send?.(m);

// Large receive buffers: a burst of 1,000 answers arriving while this process waits for a CPU must
// wait in the socket, not be dropped (a drop costs a 1 s resend and measures the buffer, not DNS).
function client(port, onReply) {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const pending = new Map();
  let nextId = 1;
  socket.on('message', (msg) => {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = pending.get(id);
    if (p === undefined) return;
    pending.delete(id);
    onReply(p, (msg[3] & 0x0f) === 0 && msg.readUInt16BE(6) > 0);
  });
  const ask = (p, name) => {
    const id = nextId;
    nextId = nextId >= 0xffff ? 1 : nextId + 1;
    p.sent = now();
    pending.set(id, p);
    socket.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] }), Number(port), '127.0.0.1');
  };
  const resendLate = () => {
    const t = now();
    for (const [id, p] of pending) {
      if (t - p.sent < 1000) continue;
      pending.delete(id);
      p.resent++;
      p.retry();
    }
  };
  return { socket, ask, resendLate };
}

const drover = client(dnsPort, (p, answered) => {
  const t = now();
  if (p.firstReply === undefined) {
    p.firstReply = t - p.started;
    p.firstRtt = t - p.sent;
  }
  if (answered) send({ latency: t - p.started, firstReply: p.firstReply, firstSent: p.firstSent, firstRtt: p.firstRtt, negatives: p.negatives, resent: p.resent });
  else if (p.tries++ < 10000) {
    p.negatives++;
    p.retry();
  }
});
const baseline = client(baselinePort, (p, answered) => {
  if (answered) send({ baseline: now() - p.started });
  else p.retry();
});
const timer = setInterval(() => {
  drover.resendLate();
  baseline.resendLate();
}, 50);

const bound = (socket) => new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
await Promise.all([bound(drover.socket), bound(baseline.socket)]);
process.on('message', (m) => {
  const received = now() - m.started;
  const p = { started: m.started, tries: 0, negatives: 0, resent: 0, firstReply: undefined, firstSent: undefined, firstRtt: undefined };
  p.retry = () => drover.ask(p, m.name);
  p.retry();
  p.firstSent = received;
  const b = { started: m.started, resent: 0 };
  b.retry = () => baseline.ask(b, baselineName);
  b.retry();
});
process.on('disconnect', () => {
  clearInterval(timer);
  drover.socket.close();
  baseline.socket.close();
});
send({ ready: true, nice: getPriority() });
