/**
 * `drover lb` under load while apps roll: a real `drover dev`, a real `drover lb` and Debian's
 * HAProxy (test/support/lb-cluster.ts), with four clients sending requests through it all along.
 * Apart from test/lb.test.ts (routing, labels, refusals) so the two halves run side by side in
 * `npm test`: these two tests are most of the LB's time, and neither needs the other's apps.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { eventually } from '../devkit/process.ts';
import { httpCall } from './support/http.ts';
import { admin, app, base, deployed, dev, get, healthyCount, lb, listen, post, servers, skip, startLbCluster, stopLbCluster } from './support/lb-cluster.ts';

before(async () => {
  if (skip) return;
  await startLbCluster('lb-rolling', { servicePorts: 15500, agentPorts: 50000 });
});

after(async () => {
  if (skip) return;
  await stopLbCluster();
});

describe('drover lb on HAProxy: rolling deploys under load', { skip }, () => {
  test('rolling deploys, scaling and a kill under steady load: 0 failed requests, no reload', async () => {
    const port = base + 5;
    // HTTP mode (marathon-lb's default is tcp): HAProxy then moves each request, not each
    // connection — in tcp mode a client's connection stays on its instance until that one exits.
    await post(app('/roll', port, { HAPROXY_0_MODE: 'http' }, { instances: 4, upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0.25 } }));
    await deployed('/roll', 4);
    await eventually(async () => (await servers(`roll_${port}`)).length === 4, 'four servers in the backend', 60_000);
    const before = JSON.parse(await admin('/_haproxy_getpids')) as { workerPid: number; reloads: number };

    // Steady bounded load: 4 clients, each one keep-alive connection, one request at a time.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    let loading = true;
    const client = async (): Promise<void> => {
      while (loading) {
        try {
          const r = await get(port, '/', {}, agent);
          if (r.status === 200) {
            ok++;
            seen.add(r.body.split(' ')[1]!);
          } else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 100)}`);
        } catch (e) {
          failures.push(String(e));
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      const update = async (env: Record<string, string>): Promise<void> => {
        const r = await httpCall(dev.url, 'PATCH', '/v2/apps/roll', { env: { LISTEN: listen, ...env } });
        assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
        await eventually(async () => (await healthyCount('/roll')) === 4, 'the rolling deploy done', 180_000);
      };
      await update({ VERSION: '2' });
      await update({ VERSION: '3' });
      // Scale down and up again, then kill one instance (it is replaced).
      await httpCall(dev.url, 'PUT', '/v2/apps/roll', { instances: 2 });
      await deployed('/roll', 2);
      await httpCall(dev.url, 'PUT', '/v2/apps/roll', { instances: 4 });
      await deployed('/roll', 4);
      const { tasks } = (await httpCall(dev.url, 'GET', '/v2/apps/roll/tasks')).body as { tasks: Array<{ id: string }> };
      await httpCall(dev.url, 'DELETE', `/v2/apps/roll/tasks/${tasks[0]!.id}`);
      await eventually(
        async () => (await healthyCount('/roll')) === 4 && !((await httpCall(dev.url, 'GET', '/v2/apps/roll/tasks')).body as { tasks: Array<{ id: string }> }).tasks.some((t) => t.id === tasks[0]!.id),
        'the killed instance replaced',
        120_000,
      );
      await eventually(async () => (await servers(`roll_${port}`)).length === 4, 'the backend back at four', 60_000);
    } finally {
      loading = false;
      await Promise.all(clients);
      agent.destroy();
    }
    const now = JSON.parse(await admin('/_haproxy_getpids')) as { workerPid: number; reloads: number; runtimeUpdates: number };
    const haproxySaid = lb
      .output()
      .split('\n')
      .filter((l) => l.includes('haproxy-said') || l.includes('lb-'))
      .slice(-40)
      .join('\n');
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${ok + failures.length} requests failed; worker ${before.workerPid} → ${now.workerPid}, reloads ${before.reloads} → ${now.reloads}\n${haproxySaid}`,
    );
    assert.ok(ok > 0, 'requests went through');
    // 4 first instances + 4 per rolling deploy + 2 scaled up + 1 replacement answered at some point.
    assert.ok(seen.size >= 8, `requests reached ${seen.size} instances over the deploys`);
    assert.equal(now.workerPid, before.workerPid, "HAProxy's worker is the same: no reload");
    assert.equal(now.reloads, before.reloads);
    assert.ok(now.runtimeUpdates > 0, 'servers changed through the runtime API');
  });

  test('drain before SIGTERM: with DROVER_DRAIN_SECONDS no request reaches a task after its SIGTERM, 0 failed over two rolling deploys', async () => {
    const port = base + 6;
    // This task does not serve on after SIGTERM as a courtesy: it marks every answer it gives
    // after the signal, and quits 2 s later. A request marked "after-sigterm" reached a task the
    // LB should have dropped before its KILL. (Caveat: one run of this test on main, without the
    // event, passed too — the LB's TASK_KILLING path beat the SIGTERM there — so this test alone
    // does not show the drain is needed; the services unit test and the DNS test do.)
    const js = `let term=false;const s=require('http').createServer((q,r)=>r.end((term?'after-sigterm':'ok')+' '+process.env.MESOS_TASK_ID));s.keepAliveTimeout=65000;s.listen(+process.env.PORT0,process.env.LISTEN);process.on('SIGTERM',()=>{term=true;setTimeout(()=>process.exit(0),2000)})`;
    await post(
      app(
        '/drain',
        port,
        { HAPROXY_0_MODE: 'http', DROVER_DRAIN_SECONDS: '5' },
        { cmd: `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(js)}`, instances: 4, upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 0.25 } },
      ),
    );
    await deployed('/drain', 4);
    await eventually(async () => (await servers(`drain_${port}`)).length === 4, 'four servers in the backend', 60_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    const failures: string[] = [];
    const late: string[] = [];
    const seen = new Set<string>();
    let loading = true;
    const client = async (): Promise<void> => {
      while (loading) {
        try {
          const r = await get(port, '/', {}, agent);
          const [what, task] = r.body.split(' ');
          if (r.status !== 200) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 100)}`);
          else if (what === 'after-sigterm') late.push(task!);
          else {
            ok++;
            seen.add(task!);
          }
        } catch (e) {
          failures.push(String(e));
        }
      }
    };
    const clients = [client(), client(), client(), client()];
    try {
      for (const version of ['2', '3']) {
        const r = await httpCall(dev.url, 'PATCH', '/v2/apps/drain', { env: { LISTEN: listen, VERSION: version } });
        assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
        await eventually(async () => (await healthyCount('/drain')) === 4, 'the rolling deploy done', 240_000);
      }
      // The last old instances are still draining: wait for their KILL and exit while the load runs.
      await eventually(async () => ((await httpCall(dev.url, 'GET', '/v2/apps/drain/tasks')).body as { tasks: unknown[] }).tasks.length === 4, 'only the new instances left', 120_000);
    } finally {
      loading = false;
      await Promise.all(clients);
      agent.destroy();
    }
    assert.deepEqual(failures, [], `${failures.length} of ${ok + failures.length} requests failed`);
    assert.deepEqual(late, [], `${late.length} requests reached a task after its SIGTERM`);
    assert.ok(seen.size >= 8, `requests reached ${seen.size} instances over the deploys`);
  });
});
