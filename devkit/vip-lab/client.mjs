// The client side of devkit/vip-lab.ts, run inside a network namespace: one JSON command per stdin
// line, one JSON answer per stdout line. Commands:
//   {"op":"hold","url":U,"n":N}       open N keep-alive connections (one GET each), keep them
//   {"op":"ping"}                     one GET on every held connection: name, local port, reused?
//   {"op":"burst","url":U,"n":N}      N requests on fresh connections: names seen, failures
//   {"op":"hammer-start","url":U,"concurrency":C}  fresh-connection requests without pause …
//   {"op":"hammer-stop"}              … until this: how many succeeded and failed (with errors)
//   {"op":"latency","url":U,"n":N,"fresh":B}  N sequential requests: per-request ms
//   {"op":"pair","a":U1,"b":U2,"n":N,"fresh":B}  N requests to each, interleaved one by one (so
//                                     load on a shared machine hits both alike): ms of each
import http from 'node:http';
import { createInterface } from 'node:readline';

const held = [];
let hammer;

function get(url, agent) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve({ ok: true, ...JSON.parse(body), localPort: req.socket?.localPort, reused: req.reusedSocket });
        } catch (e) {
          resolve({ ok: false, error: `bad body: ${String(e)}` });
        }
      });
      res.on('error', (e) => resolve({ ok: false, error: e.code ?? String(e) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
  });
}

const fresh = () => new http.Agent({ keepAlive: false });

async function handle(cmd) {
  switch (cmd.op) {
    case 'hold': {
      const out = [];
      for (let i = 0; i < cmd.n; i++) {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });
        const r = await get(cmd.url, agent);
        held.push({ agent, url: cmd.url, localPort: r.localPort, name: r.name });
        out.push(r);
      }
      return out;
    }
    case 'ping':
      return Promise.all(held.map(async (h) => ({ held: h.name, heldPort: h.localPort, ...(await get(h.url, h.agent)) })));
    case 'burst': {
      const names = {};
      const errors = [];
      for (let i = 0; i < cmd.n; i++) {
        const r = await get(cmd.url, fresh());
        if (r.ok) names[r.name] = (names[r.name] ?? 0) + 1;
        else errors.push(r.error);
      }
      return { names, errors };
    }
    case 'hammer-start': {
      hammer = { stop: false, ok: 0, failed: 0, errors: [], names: {} };
      const h = hammer;
      h.done = Promise.all(
        Array.from({ length: cmd.concurrency ?? 2 }, async () => {
          while (!h.stop) {
            const r = await get(cmd.url, fresh());
            if (r.ok) {
              h.ok++;
              h.names[r.name] = (h.names[r.name] ?? 0) + 1;
            } else {
              h.failed++;
              if (h.errors.length < 20) h.errors.push(r.error);
            }
          }
        }),
      );
      return { started: true };
    }
    case 'hammer-stop': {
      hammer.stop = true;
      await hammer.done;
      const { ok, failed, errors, names } = hammer;
      return { ok, failed, errors, names };
    }
    case 'latency': {
      const agent = cmd.fresh ? undefined : new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ms = [];
      let failed = 0;
      for (let i = 0; i < cmd.n; i++) {
        const t0 = process.hrtime.bigint();
        const r = await get(cmd.url, agent ?? fresh());
        const t1 = process.hrtime.bigint();
        if (r.ok) ms.push(Number(t1 - t0) / 1e6);
        else failed++;
      }
      agent?.destroy();
      return { ms, failed };
    }
    case 'pair': {
      const agents = cmd.fresh ? [undefined, undefined] : [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
      const out = { a: [], b: [], failed: 0 };
      for (let i = 0; i < cmd.n; i++) {
        // alternate which goes first
        for (const which of i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
          const t0 = process.hrtime.bigint();
          const r = await get(cmd[which], agents[which === 'a' ? 0 : 1] ?? fresh());
          const t1 = process.hrtime.bigint();
          if (r.ok) out[which].push(Number(t1 - t0) / 1e6);
          else out.failed++;
        }
      }
      for (const agent of agents) agent?.destroy();
      return out;
    }
    default:
      return { error: `unknown op ${cmd.op}` };
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const cmd = JSON.parse(line);
  const answer = await handle(cmd).catch((e) => ({ error: String(e) }));
  process.stdout.write(`${JSON.stringify({ id: cmd.id, answer })}\n`);
});
lines.on('close', () => process.exit(0));
process.stdout.write('ready\n');
