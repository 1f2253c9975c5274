/**
 * Every config the LB writes is one HAProxy itself accepts: the pure config (src/lb/config.ts)
 * for every label the model takes, checked by Debian's haproxy (`haproxy -c`).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderConfig, type SlotTable } from '../src/lb/config.ts';
import { buildModel, type MarathonApp } from '../src/lb/model.ts';
import { compactTables } from '../src/lb/slots.ts';

const run = (cmd: string, args: string[]) =>
  new Promise<{ code: number; out: string }>((resolve) => execFile(cmd, args, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })));
const haveHaproxy = (await run('haproxy', ['-v'])).code === 0;
const skip = haveHaproxy ? false : 'haproxy is not installed (.ci/run installs it)';

let dir: string;
before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'drover-lb-config-'));
  const made = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=site.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  assert.equal(made.code, 0, made.out);
  const { readFile } = await import('node:fs/promises');
  await writeFile(join(dir, 'site.pem'), `${await readFile(join(dir, 'cert.pem'), 'utf8')}${await readFile(join(dir, 'key.pem'), 'utf8')}`);
});
after(async () => {
  if (!skip) await rm(dir, { recursive: true, force: true });
});

test('haproxy -c accepts the config for every label the model takes', { skip }, async () => {
  const task = (id: string, port: number) => ({ id, host: 'agent-1', ports: [port, port + 1], state: 'TASK_RUNNING' });
  const apps: MarathonApp[] = [
    {
      id: '/prod/site',
      labels: {
        HAPROXY_GROUP: 'external',
        HAPROXY_0_VHOST: 'site.test,*.site.test',
        HAPROXY_0_STICKY: 'true',
        HAPROXY_0_REDIRECT_TO_HTTPS: 'true',
        HAPROXY_0_SSL_CERT: join(dir, 'site.pem'),
        HAPROXY_0_BALANCE: 'leastconn',
        HAPROXY_1_MODE: 'tcp',
        HAPROXY_1_STICKY: 'true',
        HAPROXY_1_BIND_ADDR: '::1',
      },
      portDefinitions: [{ port: 10000 }, { port: 10001 }],
      tasks: [task('s1', 31000), task('s2', 31002)],
    },
    { id: '/api', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'site.test', HAPROXY_0_PATH: '/api/v1;x=(1)*!&@:~' }, portDefinitions: [{ port: 10002 }], tasks: [task('a1', 31004)] },
    { id: '/db', labels: { HAPROXY_GROUP: 'external', HAPROXY_0_PORT: '10010', HAPROXY_0_BALANCE: 'source' }, portDefinitions: [{ port: 0 }], tasks: [] },
  ];
  const model = buildModel(apps, { groups: ['external'], bindAddr: '127.0.0.1', reservedPorts: [], hostIps: new Map([['agent-1', '127.0.0.1']]) });
  assert.equal(model.refused.length, 0, JSON.stringify(model.refused));
  assert.equal(model.services.length, 4);
  const tables: Map<string, SlotTable> = compactTables(model, new Map(), 8);
  const config = renderConfig(model, tables, { socketPath: join(dir, 'h.sock'), httpPort: 18080, httpsPort: 18443, appIdPort: 19091, bindAddr: '127.0.0.1', maxconn: 1000 });
  await writeFile(join(dir, 'h.cfg'), config);
  const checked = await run('haproxy', ['-c', '-f', join(dir, 'h.cfg')]);
  assert.equal(checked.code, 0, `${checked.out}\n${config}`);
  assert.match(config, /frontend marathon_https_in\n\s+bind 127.0.0.1:18443 ssl crt /);
  assert.match(config, /bind \[::1\]:10001/);
  assert.match(config, /frontend db_10010/);
});

test('an HAProxy left by a killed `drover lb` is stopped by the next one on the same work dir', { skip }, async () => {
  const { startDrover } = await import('../devkit/process.ts');
  const { readFile } = await import('node:fs/promises');
  const work = join(dir, 'work');
  const args = ['lb', '--master', 'http://127.0.0.1:1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--work-dir', work];
  const first = await startDrover(args);
  const pidOf = async (): Promise<number> => Number((await readFile(join(work, 'haproxy.cfg.pid'), 'utf8')).trim());
  const leftover = await pidOf();
  await first.stop('SIGKILL');
  assert.doesNotThrow(() => process.kill(leftover, 0), 'HAProxy outlives an LB killed with SIGKILL');
  const second = await startDrover(args);
  try {
    // Gone, or a zombie nobody has reaped yet (its parent, the killed LB, is gone; PID 1 reaps when it will).
    const { eventually } = await import('../devkit/process.ts');
    await eventually(
      async () => {
        const stat = await readFile(`/proc/${leftover}/stat`, 'utf8').catch(() => undefined);
        return stat === undefined || / Z /.test(stat.slice(stat.lastIndexOf(')')));
      },
      'the leftover HAProxy gone',
      30_000,
    );
    assert.notEqual(await pidOf(), leftover);
  } finally {
    await second.stop();
  }
});
