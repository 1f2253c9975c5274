/**
 * The CLI items of issue 22, each as a newcomer met it, against one live cluster: `drover dev`
 * (its own agent) and two more `drover agent` processes with smaller machines, so placement
 * reasons come from several agents of two kinds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';

let root: string;
let dev: DroverProcess;
const agents: DroverProcess[] = [];
/** Two small agents (the dev agent is the big one, named by this machine's hostname). */
const SMALL = [`127.0.${process.pid % 250}.2`, `127.0.${process.pid % 250}.3`];
/** Apps that must not change the small agents' free resources run on the dev agent. */
const ON_DEV = [['hostname', 'CLUSTER', hostname()]];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-cli-ux-'));
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', join(root, 'data'), '--resources', 'cpus:4;mem:4096;disk:1000;ports:[21400-21450]']);
  // Each on its own loopback address, so that its hostname is one the CLI can reach. Both start
  // at once; both are kept (for after()) before a failure of either is thrown.
  const started = await Promise.allSettled(
    SMALL.map((ip) =>
      startDrover(['agent', '--master', dev.url, '--port', '0', '--host', ip, '--hostname', ip, '--work-dir', join(root, ip), '--resources', 'cpus:1;mem:1024;disk:1000;ports:[21451-21460]']),
    ),
  );
  for (const s of started) if (s.status === 'fulfilled') agents.push(s.value);
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  await eventually(
    async () => ((await (await fetch(`${dev.url}/master/state-summary`)).json()) as { slaves: Array<{ active: boolean }> }).slaves.filter((s) => s.active).length === 3,
    'three agents registered',
    120_000,
  );
});
after(async () => {
  for (const a of agents) await a.stop();
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

function drover(args: string[], input?: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DROVER_BIN, ...args], { encoding: 'utf8', input, env: { ...process.env, DROVER_MASTER: dev.url, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(args: string[]): T {
  const r = drover([...args, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function get<T>(path: string): Promise<T> {
  return (await (await fetch(`${dev.url}${path}`)).json()) as T;
}

function addApp(app: Record<string, unknown>): void {
  const r = drover(['app', 'add', '-'], JSON.stringify({ cmd: 'sleep 600', cpus: 0.01, mem: 16, ...app }));
  assert.equal(r.status, 0, r.stderr);
}

/** `drover deployment watch` of the app's deployment for a few seconds (it cannot finish): what it printed. */
function watchStuck(appId: string): { status: number | null; stdout: string; stderr: string } {
  const ds = json<Array<{ id: string; affectedApps: string[] }>>(['deployment', 'list']);
  const d = ds.find((x) => x.affectedApps.includes(appId));
  assert.ok(d, `a deployment of ${appId}: ${JSON.stringify(ds)}`);
  return drover(['deployment', 'watch', d.id, '--timeout', '3']);
}

describe('drover CLI: bad input, why, progress', () => {
  test('app scale with a count that is not a whole number is refused, exit 2, and nothing changes', async () => {
    addApp({ id: '/ux/web', instances: 3, constraints: ON_DEV });
    await eventually(async () => (await get<{ app: { tasksRunning: number } }>('/v2/apps/ux/web')).app.tasksRunning === 3, 'three running', 120_000);
    await eventually(async () => (await get<unknown[]>('/v2/deployments')).length === 0, 'no deployment', 120_000);
    for (const bad of ['abc', '-1', '2.5', '1e3']) {
      const r = drover(['app', 'scale', '/ux/web', bad]);
      assert.equal(r.status, 2, `${bad}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /instances must be a whole number from 0 to 1000000/);
      assert.doesNotMatch(r.stdout, /scaling/);
    }
    assert.equal((await get<{ app: { instances: number } }>('/v2/apps/ux/web')).app.instances, 3);
    assert.equal((await get<unknown[]>('/v2/deployments')).length, 0, 'no deployment was started');
    // The API refuses the null that NaN became in JSON, naming the field.
    const put = await fetch(`${dev.url}/v2/apps/ux/web`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"instances":null}' });
    assert.equal(put.status, 422);
    assert.match(await put.text(), /\/instances/);
    assert.equal((await get<{ app: { instances: number } }>('/v2/apps/ux/web')).app.instances, 3);
  });

  test('an app that cannot be placed: app show and deployment watch say why, counted per kind of agent, from /v2/queue', async () => {
    addApp({ id: '/ux/huge', mem: 99999, instances: 1 });
    let seen = '';
    const shown = await eventually(
      () => {
        const out = (seen = drover(['app', 'show', '/ux/huge']).stdout);
        return /2 agents: insufficient mem: 1024 < 99999/.test(out) && /1 agent: insufficient mem: \d+ < 99999/.test(out) ? out : undefined;
      },
      'the reasons in app show',
      120_000,
    ).catch((e: Error) => assert.fail(`${e.message}; last seen:\n${seen}`));
    assert.match(shown, /^\/ux\/huge: 0\/1 running/m);
    assert.match(shown, /^waiting to launch 1:$/m);
    assert.match(shown, /^ {2}2 agents: insufficient mem: 1024 < 99999 \(127\.0\.\d+\.[23], 127\.0\.\d+\.[23]\)$/m);
    // The same from the one API the web UI reads.
    const { queue } = (await (await fetch(`${dev.url}/v2/queue?id=/ux/huge`)).json()) as {
      queue: Array<{
        app: { id: string };
        why: { summary: string; placement: Array<{ agents: number; reason: string; code: string; example: string; hostnames: string[] }>; backoff: { stopped: boolean } };
      }>;
    };
    assert.deepEqual(
      queue.map((q) => q.app.id),
      ['/ux/huge'],
    );
    const [small] = queue[0]!.why.placement;
    assert.deepEqual(
      { ...small, hostnames: [...(small?.hostnames ?? [])].sort() },
      { agents: 2, reason: 'insufficient mem: 1024 < 99999', code: 'InsufficientMemory', example: 'insufficient mem: 1024 < 99999', hostnames: [...SMALL].sort() },
    );
    assert.match(queue[0]!.why.summary, /^2 agents: insufficient mem: 1024 < 99999; 1 agent: insufficient mem: \d+ < 99999$/);
    assert.equal(queue[0]!.why.backoff.stopped, false);
    // The deployment never finishes: watch shows no progress and why, then gives up with exit 1.
    const watched = watchStuck('/ux/huge');
    assert.equal(watched.status, 1, watched.stderr);
    assert.match(watched.stdout, /\/ux\/huge \[\.{20}\] 0\/1 ready/);
    assert.match(watched.stdout, /2 agents: insufficient mem: 1024 < 99999/);
    assert.match(watched.stderr, /still running after 3 s/);
    assert.equal(drover(['app', 'remove', '/ux/huge', '--force']).status, 0);
  });

  test('a restart whose new version cannot be placed is stuck at 0, not a full bar or 4/2; a lock error names --force', async () => {
    addApp({ id: '/ux/roll', instances: 2, constraints: ON_DEV });
    await eventually(async () => (await get<unknown[]>('/v2/deployments')).length === 0, 'deployed', 120_000);
    assert.equal(drover(['app', 'update', '/ux/roll', 'mem=99999']).status, 0);
    const shown = await eventually(
      () => {
        const out = drover(['app', 'show', '/ux/roll']).stdout;
        return /insufficient mem/.test(out) ? out : undefined;
      },
      'the reason in app show',
      60_000,
    );
    assert.match(shown, /^\/ux\/roll: 0\/2 running \(and 2 of the previous version\)/m);
    assert.match(shown, /^deploying: \[\.{20}\] 0\/2 ready \(2 of the previous version still running\)/m);
    const watched = watchStuck('/ux/roll');
    assert.match(watched.stdout, /\/ux\/roll \[\.{20}\] 0\/2 ready \(2 of the previous version still running\)/);
    assert.doesNotMatch(watched.stdout, /#{20}|[3-9]\/2/);
    // The app is locked by that deployment: the CLI says to add --force, not ?force=true.
    const locked = drover(['app', 'scale', '/ux/roll', '1']);
    assert.equal(locked.status, 1);
    assert.match(locked.stderr, /locked by one or more deployments\. Add --force to override/);
    assert.doesNotMatch(locked.stderr, /\?force=true/);
    assert.equal(drover(['app', 'remove', '/ux/roll', '--force']).status, 0);
  });

  test('a constraint refusal is counted per agent too', async () => {
    addApp({ id: '/ux/unique', instances: 4, constraints: [['hostname', 'UNIQUE']] });
    const out = await eventually(
      () => {
        const o = drover(['app', 'show', '/ux/unique']).stdout;
        return /^ {2}3 agents: .*hostname/m.test(o) ? o : undefined;
      },
      'three agents refusing on the constraint',
      60_000,
    );
    assert.match(out, /^\/ux\/unique: 3\/4 running/m);
    assert.match(out, /^waiting to launch 1:$/m);
    assert.equal(drover(['app', 'remove', '/ux/unique', '--force']).status, 0);
  });
});

describe('drover CLI: tasks, nodes, dates, completion', () => {
  test('task ids by unique prefix; nodes by hostname; one date format', async () => {
    const tasks = json<Array<{ id: string; slave_id: string }>>(['task', 'list', 'ux_web']);
    const id = tasks[0]!.id;
    // The shortest prefix that names only this task (ids share a long time-based start).
    let prefix = 'ux_web'.length + 1;
    while (tasks.some((t) => t.id !== id && t.id.startsWith(id.slice(0, prefix)))) prefix++;
    const ls = drover(['task', 'ls', id.slice(0, prefix)]);
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /\sstdout$/m);
    // Dates: UTC to the second, one format everywhere.
    assert.match(ls.stdout, /\s\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s/);
    const ambiguous = drover(['task', 'ls', 'ux_web.instance-']);
    assert.equal(ambiguous.status, 2);
    assert.match(ambiguous.stderr, /is the start of 3 task ids; type more of one/);
    // Nodes by hostname: the task list and app show name the agent's host, not its id.
    const list = drover(['task', 'list', 'ux_web']);
    assert.match(list.stdout, /^ID\s+NAME\s+STATE\s+NODE\s+CPUS\s+MEM$/m);
    for (const t of tasks) assert.ok(!list.stdout.includes(t.slave_id), 'no agent id in the table');
    assert.equal(json<unknown[]>(['task', 'list', 'ux_web', '--agent', hostname()]).length, 3, 'an agent named by its hostname');
    assert.equal(json<unknown[]>(['task', 'list', 'ux_web', '--agent', SMALL[0]!]).length, 0);
    const show = drover(['app', 'show', '/ux/web']).stdout;
    assert.match(show, /^TASK\s+STATE\s+NODE\s+PORTS\s+STARTED$/m);
    assert.match(show, new RegExp(`^ux_web\\S+\\s+TASK_RUNNING\\s+${hostname()}\\s+\\d+\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`, 'm'));
    assert.match(drover(['node', 'list']).stdout, new RegExp(`^HOSTNAME\\s+STATE\\s+CPUS\\s+MEM\\s+ID\\n(.*\\n)*${SMALL[0]!.replaceAll('.', '\\.')}\\s+active`, 'm'));
  });

  test('task log -f of a run that ends exits after its last line; of a finished run at once', async () => {
    const job = JSON.stringify({ id: 'ux.short', run: { cmd: 'echo first; sleep 4; echo last', cpus: 0.01, mem: 32, disk: 0 } });
    assert.equal(drover(['job', 'add', '-'], job).status, 0);
    assert.equal(drover(['job', 'run', 'ux.short']).status, 0);
    await eventually(() => drover(['task', 'log', 'ux.short']).stdout.includes('first'), 'the run started', 60_000);
    // Following while it runs: the command ends by itself when the run does (the bound is only
    // against hanging forever, as it did).
    const follow = spawn(process.execPath, [DROVER_BIN, 'task', 'log', '-f', 'ux.short'], { env: { ...process.env, DROVER_MASTER: dev.url } });
    let out = '';
    let err = '';
    follow.stdout.on('data', (d: Buffer) => (out += d.toString()));
    follow.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const bound = setTimeout(() => follow.kill('SIGKILL'), 120_000);
    const [code] = (await once(follow, 'exit')) as [number | null];
    clearTimeout(bound);
    assert.equal(code, 0, err);
    assert.equal(out, 'first\nlast\n');
    assert.match(err, /task ux\.short_\S+ has ended \(TASK_FINISHED\)/);
    // A finished run: -f prints and returns.
    const again = drover(['task', 'log', '-f', 'ux.short']);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, 'first\nlast\n');
    assert.equal(drover(['job', 'remove', 'ux.short']).status, 0);
  });

  test('completion: one TAB prints candidates only; completion zsh works', async () => {
    // What the shell runs on each TAB: candidates on stdout, and nothing on the terminal (stderr).
    const asked = drover(['--get-yargs-completions', 'drover', 'app', 'show', '']);
    assert.equal(asked.status, 0);
    assert.match(asked.stdout, /^\/ux\/web$/m);
    assert.equal(asked.stderr, '');
    const task = drover(['--get-yargs-completions', 'drover', 'task', 'log', '']);
    assert.match(task.stdout, /^ux_web\.instance-/m);
    assert.equal(task.stderr, '');
    // The bash script, through a real bash, with stderr kept.
    const binDir = join(root, 'bin');
    await mkdir(binDir, { recursive: true });
    await writeFile(join(binDir, 'drover'), `#!/bin/sh\nexec "${process.execPath}" "${DROVER_BIN}" "$@"\n`);
    await chmod(join(binDir, 'drover'), 0o755);
    const env = { ...process.env, PATH: `${binDir}:${process.env['PATH']}`, DROVER_MASTER: dev.url };
    const bashScript = drover(['completion', 'bash']);
    assert.equal(bashScript.status, 0, bashScript.stderr);
    const bash = `${bashScript.stdout}\nCOMP_WORDS=(drover app show ''); COMP_CWORD=3; COMP_LINE="drover app show "; COMP_POINT=\${#COMP_LINE}\n_drover_yargs_completions\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
    const completed = spawnSync('bash', ['-c', bash], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(completed.status, 0, completed.stderr);
    assert.match(completed.stdout, /^\/ux\/web$/m);
    assert.equal(completed.stderr, '', 'no help text on the terminal');
    // zsh: the script loads and registers its completer with compinit.
    const zshScript = drover(['completion', 'zsh']);
    assert.equal(zshScript.status, 0, zshScript.stderr);
    assert.match(zshScript.stdout, /^#compdef drover$/m);
    const zfile = join(root, 'drover.zsh');
    await writeFile(zfile, zshScript.stdout);
    const zsh = spawnSync('zsh', ['-fc', `autoload -U compinit; compinit -u -d ${join(root, 'zcompdump')}; source ${zfile}; print -r -- \${_comps[drover]}`], {
      encoding: 'utf8',
      env,
      timeout: 60_000,
    });
    assert.equal(zsh.status, 0, zsh.stderr);
    assert.equal(zsh.stdout.trim(), '_drover_yargs_completions');
    const zshAsked = drover(['--get-yargs-completions', 'drover', 'app', 'show', ''], undefined, { SHELL: '/bin/zsh' });
    assert.match(zshAsked.stdout, /^\/ux\/web$/m);
    const fish = drover(['completion', 'fish']);
    assert.equal(fish.status, 2);
    assert.match(fish.stderr, /bash or zsh/);
  });
});
