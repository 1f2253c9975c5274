// hello-framework: a Mesos v1 HTTP API scheduler in one file (node, no dependencies).
// It subscribes to the master named by DROVER_MASTER, keeps HELLO_TASKS tasks running (each runs
// HELLO_CMD), acknowledges every status update, and on SIGTERM tears itself down (its tasks end
// with it). Configuration comes from the environment its Marathon app sets.

const master = (process.env.DROVER_MASTER || 'http://127.0.0.1:5050').replace(/\/$/, '');
const name = process.env.HELLO_NAME || 'hello-framework';
const wanted = Number(process.env.HELLO_TASKS || '2');
const cmd = process.env.HELLO_CMD || 'echo hello from $MESOS_TASK_ID; exec sleep 100000';
const cpus = Number(process.env.HELLO_TASK_CPUS || '0.1');
const mem = Number(process.env.HELLO_TASK_MEM || '32');
const role = process.env.HELLO_ROLE || '*';
const headers = { 'content-type': 'application/json', accept: 'application/json' };
if (process.env.DROVER_TOKEN) headers.authorization = `token=${process.env.DROVER_TOKEN}`;
let frameworkId;
let streamId;
let serial = 0;
const active = new Map(); // task id -> state
const log = (...a) => console.log(new Date().toISOString(), name, ...a);
const done = ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'];

async function call(body) {
  const res = await fetch(`${master}/api/v1/scheduler`, {
    method: 'POST',
    headers: Object.assign({ 'mesos-stream-id': streamId }, headers),
    body: JSON.stringify(Object.assign({ framework_id: { value: frameworkId } }, body)),
  });
  if (res.status >= 300) log('call', body.type, 'answered', res.status, await res.text());
  else await res.body?.cancel();
}

function scalar(offer, resource) {
  return (offer.resources || []).filter((r) => r.name === resource && r.scalar).reduce((sum, r) => sum + r.scalar.value, 0);
}

async function onOffers(offers) {
  for (const offer of offers) {
    let free = { cpus: scalar(offer, 'cpus'), mem: scalar(offer, 'mem') };
    const tasks = [];
    while (active.size + tasks.length < wanted && free.cpus >= cpus && free.mem >= mem) {
      const id = `${name}-task-${++serial}-${process.pid}`;
      tasks.push({
        name: id,
        task_id: { value: id },
        agent_id: offer.agent_id,
        resources: [
          { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
          { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
        ],
        command: { value: cmd, shell: true },
      });
      free = { cpus: free.cpus - cpus, mem: free.mem - mem };
    }
    for (const t of tasks) active.set(t.task_id.value, 'TASK_STAGING');
    if (tasks.length > 0) log('launching', tasks.map((t) => t.task_id.value).join(','), 'on', offer.agent_id.value);
    await call(
      tasks.length > 0
        ? { type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }] } }
        : { type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 5 } } },
    );
  }
}

async function onUpdate(status) {
  const id = status.task_id.value;
  log('task', id, status.state, status.message || '');
  if (done.includes(status.state)) active.delete(id);
  else active.set(id, status.state);
  if (status.uuid) await call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: status.agent_id, task_id: status.task_id, uuid: status.uuid } });
  if (active.size < wanted) await call({ type: 'REVIVE' });
}

async function main() {
  const res = await fetch(`${master}/api/v1/scheduler`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ type: 'SUBSCRIBE', subscribe: { framework_info: { user: process.env.HELLO_USER || 'nobody', name, roles: [role], failover_timeout: 0 } } }),
  });
  if (res.status !== 200) throw new Error(`SUBSCRIBE answered ${res.status}: ${await res.text()}`);
  streamId = res.headers.get('mesos-stream-id');
  let buffer = Buffer.alloc(0);
  for await (const chunk of res.body) {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const nl = buffer.indexOf(10);
      if (nl < 0) break;
      const size = Number(buffer.subarray(0, nl).toString());
      if (buffer.length < nl + 1 + size) break;
      const event = JSON.parse(buffer.subarray(nl + 1, nl + 1 + size).toString());
      buffer = buffer.subarray(nl + 1 + size);
      if (event.type === 'SUBSCRIBED') {
        frameworkId = event.subscribed.framework_id.value;
        log('subscribed as', frameworkId);
      } else if (event.type === 'OFFERS') await onOffers(event.offers.offers || []);
      else if (event.type === 'UPDATE') await onUpdate(event.update.status);
      else if (event.type === 'ERROR') throw new Error(`master: ${event.error.message}`);
    }
  }
  throw new Error('the master closed the subscription');
}

process.on('SIGTERM', () => {
  log('SIGTERM: tearing down');
  const teardown = frameworkId ? call({ type: 'TEARDOWN' }) : Promise.resolve();
  teardown.finally(() => process.exit(0));
});
main().catch((e) => {
  log('failed:', e.message);
  process.exit(1);
});
