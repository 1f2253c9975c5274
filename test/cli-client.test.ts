/**
 * The client commands of `drover` as a user runs them, against a live `drover dev`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROVER_BIN, eventually, startDrover, type DroverProcess } from '../devkit/process.ts';

let root: string;
let dev: DroverProcess;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-cli-'));
  // --no-lb: no command here uses the load balancer (test/lb.test.ts does), and its HAProxy would reload as the apps come and go.
  dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--no-lb', '--data-dir', join(root, 'data'), '--resources', 'cpus:4;mem:4096;disk:1000;ports:[21300-21400]']);
});
after(async () => {
  await dev.stop();
  await rm(root, { recursive: true, force: true });
});

/**
 * fetch, once more on a new connection if the pooled one was closed meanwhile: the CLI calls of
 * these tests block this process (spawnSync) for longer than the server keeps an idle connection.
 */
function fetchAfterCli(url: string, init?: RequestInit): Promise<Response> {
  return fetch(url, init).catch(() => fetch(url, init));
}

function drover(args: string[], input?: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [DROVER_BIN, ...args], { encoding: 'utf8', input, env: { ...process.env, DROVER_MASTER: dev.url, ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(args: string[]): T {
  const r = drover([...args, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

describe('drover app / deployment / task / node', () => {
  test('app list and show name each app’s image, and show says why its pull failed', async () => {
    // Nothing listens on port 1: the pull fails at once, naming the image.
    const image = '127.0.0.1:1/drover/nowhere:v1';
    const added = drover(['app', 'add', '-'], JSON.stringify({ id: '/cli/imaged', cpus: 0.01, mem: 16, instances: 1, container: { type: 'DOCKER', docker: { image } } }));
    assert.equal(added.status, 0, added.stderr);
    const list = drover(['app', 'list']);
    assert.match(list.stdout, /^ID\s+INSTANCES\s+RUNNING\s+HEALTHY\s+CPUS\s+MEM\s+DEPLOYING\s+IMAGE\s+CMD/m);
    assert.match(list.stdout, /^\/cli\/imaged\s.*127\.0\.0\.1:1\/drover\/nowhere:v1/m);
    const shown = await eventually(
      () => {
        const out = drover(['app', 'show', '/cli/imaged']).stdout;
        return /last failure:/.test(out) ? out : undefined;
      },
      'the failed pull in app show',
      60_000,
    );
    assert.match(shown, /^image: 127\.0\.0\.1:1\/drover\/nowhere:v1$/m);
    assert.match(shown, /^last failure: TASK_FAILED .*127\.0\.0\.1:1\/drover\/nowhere:v1/m);
    assert.equal(drover(['app', 'remove', '/cli/imaged', '--force']).status, 0);
  });

  test('the app lifecycle through the CLI', async () => {
    const file = join(root, 'web.json');
    await writeFile(file, JSON.stringify({ id: '/cli/web', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1 }));
    const added = drover(['app', 'add', file]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /created \/cli\/web/);
    const fromStdin = drover(['app', 'add', '-'], JSON.stringify({ id: '/cli/worker', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0 }));
    assert.equal(fromStdin.status, 0, fromStdin.stderr);

    const list = drover(['app', 'list']);
    assert.match(list.stdout, /^ID\s+INSTANCES\s+RUNNING/m);
    assert.match(list.stdout, /^\/cli\/web\s+1\s/m);
    await eventually(() => json<{ tasksRunning: number }>(['app', 'show', 'cli/web']).tasksRunning === 1, 'one running');

    const scaled = drover(['app', 'scale', '/cli/web', '2']);
    assert.match(scaled.stdout, /scaling \/cli\/web to 2 \(deployment [0-9a-f-]{36}\)/);
    const deploymentId = /deployment ([0-9a-f-]{36})/.exec(scaled.stdout)![1]!;
    const watched = drover(['deployment', 'watch', deploymentId, '--timeout', '30']);
    assert.equal(watched.status, 0, watched.stderr);
    assert.match(watched.stdout, new RegExp(`deployment ${deploymentId} finished`));
    assert.equal(json<{ tasksRunning: number }>(['app', 'show', 'cli/web']).tasksRunning, 2);

    const tasks = json<Array<{ id: string; state: string }>>(['task', 'list', 'cli_web']);
    assert.equal(tasks.filter((t) => t.state === 'TASK_RUNNING').length, 2);
    assert.ok(
      tasks.every((t) => t.id.startsWith('cli_web.')),
      'filtered on the server by the text',
    );
    const nodes = json<Array<{ hostname: string; active: boolean }>>(['node', 'list']);
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0]!.active, true);

    assert.equal(drover(['app', 'update', '/cli/web', 'cmd=sleep 301', 'env={"A":"1"}']).status, 0);
    await eventually(() => json<{ cmd: string; env: Record<string, string> }>(['app', 'show', '/cli/web']).env['A'] === '1', 'updated');
    await eventually(() => json<unknown[]>(['deployment', 'list']).length === 0, 'no deployments', 30_000);
    const killed = drover(['app', 'kill', '/cli/web', '--scale']);
    assert.match(killed.stdout, /killed 2 task\(s\)/);
    await eventually(() => json<{ instances: number }>(['app', 'show', '/cli/web']).instances === 0, 'scaled to 0 by the kill');
    assert.equal(drover(['app', 'remove', '/cli/web', '--force']).status, 0);
    assert.equal(drover(['app', 'remove', '/cli/worker', '--force']).status, 0);
    assert.equal(drover(['app', 'show', '/cli/web']).status, 1);
  });

  test('errors carry the server reason to stderr with a non-zero exit', async () => {
    const invalid = drover(['app', 'add', '-'], JSON.stringify({ id: '/cli/bad', cmd: 'x', cpus: -1 }));
    assert.equal(invalid.status, 1);
    assert.match(invalid.stderr, /Object is not valid \(HTTP 422\)\n\s+\/cpus: must be >= 0.001/);
    const notJson = drover(['app', 'add', '-'], '{nope');
    assert.equal(notJson.status, 2);
    assert.match(notJson.stderr, /stdin is not valid JSON/);
    const badPair = drover(['app', 'update', '/x', 'novalue']);
    assert.equal(badPair.status, 2);
    const unreachable = drover(['app', 'list', '--master', 'http://127.0.0.1:1']);
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot reach the master at http:\/\/127.0.0.1:1/);
  });

  test('the master comes from --master, then DROVER_MASTER, then ~/.drover/config.json', async () => {
    const home = join(root, 'home');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(home, '.drover'), { recursive: true });
    await writeFile(join(home, '.drover', 'config.json'), JSON.stringify({ master: dev.url }));
    const viaConfig = drover(['node', 'list', '--json'], undefined, { DROVER_MASTER: '', HOME: home });
    assert.equal(viaConfig.status, 0, viaConfig.stderr);
    const flagWins = drover(['node', 'list', '--master', 'http://127.0.0.1:1'], undefined, { HOME: home });
    assert.equal(flagWins.status, 1);
  });

  test('the bash completion script loads and completes an app id from the master', async () => {
    assert.equal(drover(['app', 'add', '-'], JSON.stringify({ id: '/complete/me', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 0 })).status, 0);
    const script = drover(['completion']);
    assert.equal(script.status, 0);
    // The script runs `drover` from PATH: put a shim for this checkout first.
    const binDir = join(root, 'bin');
    const { mkdir, chmod } = await import('node:fs/promises');
    await mkdir(binDir, { recursive: true });
    await writeFile(join(binDir, 'drover'), `#!/bin/sh\nexec "${process.execPath}" "${DROVER_BIN}" "$@"\n`);
    await chmod(join(binDir, 'drover'), 0o755);
    const bash = `${script.stdout}\ncomplete -p drover >/dev/null || exit 9\nCOMP_WORDS=(drover app show /comp); COMP_CWORD=3; COMP_LINE="drover app show /comp"; COMP_POINT=\${#COMP_LINE}\n_drover_yargs_completions\nprintf '%s\\n' "\${COMPREPLY[@]}"`;
    const completed = spawnSync('bash', ['-c', bash], { encoding: 'utf8', env: { ...process.env, PATH: `${binDir}:${process.env['PATH']}`, DROVER_MASTER: dev.url }, timeout: 30_000 });
    assert.equal(completed.status, 0, completed.stderr);
    assert.match(completed.stdout, /^\/complete\/me$/m);
    assert.equal(drover(['app', 'remove', '/complete/me', '--force']).status, 0);
  });

  test('task log prints the last lines, follows new ones, and reads a finished task from history', async () => {
    const added = drover(
      ['app', 'add', '-'],
      JSON.stringify({ id: '/ticker', cmd: 'i=0; while true; do i=$((i+1)); echo "tick $i"; echo "err $i" >&2; sleep 0.3; done', cpus: 0.01, mem: 16, instances: 1 }),
    );
    assert.equal(added.status, 0, added.stderr);
    await eventually(
      () => {
        const r = drover(['task', 'log', 'ticker', '--lines', '2']);
        return r.status === 0 && /^tick \d+\ntick \d+\n$/.test(r.stdout);
      },
      'two lines of history',
      30_000,
    );
    assert.match(drover(['task', 'log', '/ticker', '--stderr', '--lines', '1']).stdout, /^err \d+\n$/);

    // Follow: a line the task printed after the follow began must show up.
    const child = spawn(process.execPath, [DROVER_BIN, 'task', 'log', '--follow', '--lines', '1', '/ticker'], { env: { ...process.env, DROVER_MASTER: dev.url } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const first = await eventually(() => /tick (\d+)/.exec(out)?.[1], 'the first line');
      await eventually(() => [...out.matchAll(/tick (\d+)/g)].some((m) => Number(m[1]) > Number(first) + 2), 'lines written after the follow began', 20_000);
    } finally {
      child.kill('SIGINT');
    }

    const listing = drover(['task', 'ls', '/ticker']);
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /\sstdout\n/);
    assert.match(listing.stdout, /\sstderr\n/);
    const download = drover(['task', 'download', '/ticker', 'stdout']);
    assert.match(download.stdout, /^tick 1\ntick 2\n/);
    const taskId = json<Array<{ id: string }>>(['task', 'list', 'ticker'])[0]!.id;
    assert.equal(drover(['app', 'remove', '/ticker', '--force']).status, 0);
    await eventually(() => json<Array<{ id: string; state: string }>>(['task', 'list', 'ticker', '--completed']).some((t) => t.id === taskId && t.state === 'TASK_KILLED'), 'the task finished');
    const history = drover(['task', 'log', taskId, '--lines', '1']);
    assert.equal(history.status, 0, history.stderr);
    assert.match(history.stdout, /^tick \d+\n$/);
    assert.equal(drover(['task', 'log', 'no-such-thing']).status, 1);
  });

  test('drover run: both streams carried, stdin forwarded, exit code returned; shebang form works', async () => {
    const script = join(root, 'job.sh');
    await writeFile(script, '#!/bin/sh\necho "out: $1 $2"\necho "err: on stderr" >&2\nexit 3\n');
    const r = drover(['run', '--mem', '32', '--cpus', '0.05', script, 'a b', '--flag']);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'out: a b --flag\n');
    assert.match(r.stderr, /^err: on stderr$/m);

    // stdin is forwarded: the script reads a line, then the rest, then sees end-of-file.
    const reader = join(root, 'reader.sh');
    await writeFile(reader, '#!/bin/sh\nread -r line\necho "got: $line"\ncat\necho "eof"\n');
    const piped = drover(['run', '--mem', '32', '--cpus', '0.05', reader], 'first line\nsecond\nthird\n');
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(piped.stdout, 'got: first line\nsecond\nthird\neof\n');

    const shebang = join(root, 'hello');
    await writeFile(shebang, `#!/usr/bin/env -S ${process.execPath} ${DROVER_BIN} run --mem 32 --cpus 0.05\necho hello from the cluster\n`);
    const { chmod } = await import('node:fs/promises');
    await chmod(shebang, 0o755);
    const direct = spawnSync(shebang, [], { encoding: 'utf8', env: { ...process.env, DROVER_MASTER: dev.url }, timeout: 60_000 });
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout, 'hello from the cluster\n');
  });

  test('drover run over HTTPS: the scheduler API and the task trust the cluster CA (DROVER_CA_CERT), and without it the certificate is refused', async () => {
    const script = join(root, 'https.sh');
    await writeFile(script, '#!/bin/sh\necho hello over https\nexit 4\n');
    const https = /HTTPS on (https:\/\/\S+)/.exec(dev.output())?.[1];
    assert.ok(https, `drover dev says where it serves HTTPS:\n${dev.output()}`);
    const caFile = join(root, 'data', 'ca.crt');
    // No data dir to find ca.crt in: only DROVER_CA_CERT says what to trust.
    const elsewhere = { DROVER_MASTER: https, DROVER_DATA_DIR: join(root, 'nowhere') };
    const trusted = drover(['run', '--mem', '32', '--cpus', '0.05', script], undefined, { ...elsewhere, DROVER_CA_CERT: caFile });
    assert.equal(trusted.status, 4, trusted.stderr);
    assert.equal(trusted.stdout, 'hello over https\n');
    const env: NodeJS.ProcessEnv = { ...process.env, ...elsewhere };
    delete env['DROVER_CA_CERT'];
    const untrusted = spawnSync(process.execPath, [DROVER_BIN, 'run', '--mem', '32', '--cpus', '0.05', script], { encoding: 'utf8', env, timeout: 60_000 });
    assert.notEqual(untrusted.status, 0);
    assert.match(untrusted.stderr, /certificate/i);
  });
});

describe('drover job', () => {
  test('add, list, run, history with outcomes, log of a finished run, schedules, kill, remove', async () => {
    const file = join(root, 'job.json');
    await writeFile(
      file,
      JSON.stringify({
        id: 'cli.report',
        description: 'a report',
        run: { cmd: 'echo "report for $MESOS_TASK_ID"; sleep 1', cpus: 0.01, mem: 32, disk: 0 },
        schedules: [{ id: 'yearly', cron: '0 3 1 1 *', timezone: 'Europe/Berlin' }],
      }),
    );
    const added = drover(['job', 'add', file]);
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /created cli\.report/);
    assert.match(drover(['job', 'list']).stdout, /^cli\.report\s+0 3 1 1 \* Europe\/Berlin\s+0\s+0\s+0\s/m);

    const started = drover(['job', 'run', 'cli.report']);
    assert.equal(started.status, 0, started.stderr);
    const runId = /started run (\S+) of cli\.report/.exec(started.stdout)?.[1];
    assert.ok(runId, started.stdout);
    await eventually(() => json<{ successCount: number }>(['job', 'history', 'cli.report']).successCount === 1, 'the run succeeded', 30_000);
    const history = drover(['job', 'history', 'cli.report']);
    assert.match(history.stdout, /^cli\.report: 1 ok, 0 failed, 0 skipped$/m);
    assert.match(history.stdout, new RegExp(`^${runId}\\s+SUCCESS\\s+\\S+\\s+\\d+\\.\\ds\\s+cli\\.report_${runId}\\.1`, 'm'));
    // The finished run's log, found by the job id.
    const log = drover(['task', 'log', 'cli.report']);
    assert.equal(log.status, 0, log.stderr);
    assert.equal(log.stdout, `report for cli.report_${runId}.1\n`);

    // Schedules: list, remove, add (one per job, as Metronome); Feb 30 is refused naming the field.
    assert.match(drover(['job', 'schedule', 'list', 'cli.report']).stdout, /^yearly\s+0 3 1 1 \*\s+Europe\/Berlin\s+yes/m);
    const removedSchedule = drover(['job', 'schedule', 'remove', 'cli.report', 'yearly']);
    assert.equal(removedSchedule.status, 0, removedSchedule.stderr);
    const badSchedule = drover(['job', 'schedule', 'add', 'cli.report', '-'], JSON.stringify({ id: 'feb30', cron: '0 0 30 2 *' }));
    assert.equal(badSchedule.status, 1);
    assert.match(badSchedule.stderr, /\/cron/);
    const added2 = drover(['job', 'schedule', 'add', 'cli.report', '-'], JSON.stringify({ id: 'never', cron: '0 0 1 1 *', enabled: false }));
    assert.equal(added2.status, 0, added2.stderr);
    assert.match(drover(['job', 'schedule', 'list', 'cli.report']).stdout, /^never\s+0 0 1 1 \*\s+UTC\s+no/m);

    // A long run is killed; a job with an active run is removed only with --stop-runs.
    await writeFile(file, JSON.stringify({ id: 'cli.long', run: { cmd: 'sleep 300', cpus: 0.01, mem: 32, disk: 0 } }));
    const addedLong = drover(['job', 'add', file]);
    assert.equal(addedLong.status, 0, addedLong.stderr);
    assert.equal(drover(['job', 'run', 'cli.long']).status, 0);
    await eventually(() => json<{ activeRuns: Array<{ status: string }> }>(['job', 'show', 'cli.long']).activeRuns.some((r) => r.status === 'ACTIVE'), 'the long run is active', 30_000);
    const refused = drover(['job', 'remove', 'cli.long']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /stopCurrentJobRuns/);
    const killed = drover(['job', 'kill', 'cli.long']);
    assert.match(killed.stdout, /stopped 1 run\(s\) of cli\.long/);
    await eventually(() => json<{ failureCount: number }>(['job', 'history', 'cli.long']).failureCount === 1, 'the stopped run is recorded', 30_000);
    assert.equal(drover(['job', 'remove', 'cli.long', '--stop-runs']).status, 0);
    assert.equal(drover(['job', 'remove', 'cli.report']).status, 0);
    assert.equal(drover(['job', 'show', 'cli.report']).status, 1);
  });
});

describe('drover task exec', () => {
  test('runs inside the task: its pid namespace, its sandbox; streams, stdin and the exit code are carried', async () => {
    await writeFile(join(root, 'box.json'), JSON.stringify({ id: '/box', cmd: 'echo inside > marker; exec sleep 300', cpus: 0.01, mem: 32, instances: 1 }));
    assert.equal(drover(['app', 'add', join(root, 'box.json')]).status, 0);
    await eventually(() => json<{ tasksRunning: number }>(['app', 'show', 'box']).tasksRunning === 1, 'box running');
    // PID 1 of the task's namespace is the task's own init (Drover's exit-status wrapper running
    // the app's command), not the host's init: exec joined the task's pid namespace.
    const pid1 = drover(['task', 'exec', '/box', '--', 'cat', '/proc/1/cmdline']);
    assert.equal(pid1.status, 0, pid1.stderr);
    const argv = pid1.stdout.split('\0');
    assert.ok(argv.includes('drover-task'), `PID 1 is the task's wrapper: ${JSON.stringify(argv)}`);
    assert.ok(
      argv.some((a) => a.includes('exec sleep 300')),
      'running the app command',
    );
    // Only the task's processes are visible, and the command starts in the sandbox.
    const ps = drover(['task', 'exec', '/box', '--', 'sh', '-c', 'ls /proc | grep -c "^[0-9]"; cat marker; echo oops >&2; exit 7']);
    assert.equal(ps.status, 7, ps.stderr);
    const [count, marker] = ps.stdout.trim().split('\n');
    assert.ok(Number(count) < 10, `a handful of processes, not the host's: ${count}`);
    assert.equal(marker, 'inside');
    assert.equal(ps.stderr, 'oops\n');
    // -i carries stdin to the command.
    const upper = drover(['task', 'exec', '-i', '/box', '--', 'tr', 'a-z', 'A-Z'], 'hello exec\n');
    assert.equal(upper.status, 0, upper.stderr);
    assert.equal(upper.stdout, 'HELLO EXEC\n');
    // -t gives it a terminal.
    const tty = drover(['task', 'exec', '-t', '/box', '--', 'tty']);
    assert.equal(tty.status, 0, tty.stderr);
    assert.match(tty.stdout, /^\/dev\/pts\/\d+/);

    // Bad input: no command, an unknown task, and the agent refusing a malformed request.
    assert.equal(drover(['task', 'exec', '/box']).status, 2);
    const unknown = drover(['task', 'exec', 'no-such-task', '--', 'true']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no task matches 'no-such-task'/);
    const agent = ((await (await fetchAfterCli(`${dev.url}/master/state`)).json()) as { slaves: Array<{ hostname: string; port: number }> }).slaves[0]!;
    const agentUrl = `http://${agent.hostname}:${agent.port}`;
    const noArgv = await fetch(`${agentUrl}/tasks/exec?task_id=x`, { method: 'POST' });
    assert.equal(noArgv.status, 400);
    assert.match(((await noArgv.json()) as { message: string }).message, /argv/);
    const noTask = await fetch(`${agentUrl}/tasks/exec?task_id=nope&argv=${encodeURIComponent('["true"]')}`, { method: 'POST' });
    assert.equal(noTask.status, 404);
    assert.equal(drover(['app', 'remove', '/box', '--force']).status, 0);
  });
});

// Last in this file: draining the only agent stops everything else from being placed.
describe('drover node', () => {
  test('deactivate keeps tasks; drain kills them and stops offers; reactivate places the app again', async () => {
    await writeFile(join(root, 'pinned.json'), JSON.stringify({ id: '/pinned', cmd: 'sleep 300', cpus: 0.01, mem: 16, instances: 1 }));
    assert.equal(drover(['app', 'add', join(root, 'pinned.json')]).status, 0);
    await eventually(() => json<{ tasksRunning: number }>(['app', 'show', 'pinned']).tasksRunning === 1, 'pinned running');
    const [node] = json<Array<{ id: string; hostname: string; active: boolean }>>(['node', 'list']);
    assert.ok(node, 'one agent');
    const firstTask = json<Array<{ id: string; state: string }>>(['task', 'list', 'pinned']).find((t) => t.state === 'TASK_RUNNING')!.id;

    // Deactivated: the task keeps running, and the node says so.
    const deactivated = drover(['node', 'deactivate', node.hostname]);
    assert.equal(deactivated.status, 0, deactivated.stderr);
    assert.match(drover(['node', 'list']).stdout, new RegExp(`^${node.hostname}\\s+deactivated\\s.*\\s${node.id}$`, 'm'));
    assert.ok(json<Array<{ id: string; state: string }>>(['task', 'list', 'pinned']).some((t) => t.id === firstTask && t.state === 'TASK_RUNNING'));

    // Drained: the task is killed and, with no other node, the app stays queued.
    const drained = drover(['node', 'drain', node.id, '--grace', '1', '--wait']);
    assert.equal(drained.status, 0, drained.stderr);
    assert.match(drained.stderr, /drained/);
    assert.match(drover(['node', 'list']).stdout, new RegExp(`^${node.hostname}\\s+drained\\s.*\\s${node.id}$`, 'm'));
    await eventually(() => json<Array<{ id: string; state: string }>>(['task', 'list', 'pinned', '--completed']).some((t) => t.id === firstTask && t.state === 'TASK_KILLED'), 'the task killed');
    const state = (await (await fetchAfterCli(`${dev.url}/master/state`)).json()) as { slaves: Array<{ deactivated: boolean; drain_info?: { state: string } }> };
    assert.deepEqual([state.slaves[0]!.deactivated, state.slaves[0]!.drain_info?.state], [true, 'DRAINED']);
    // No offers reach the services framework meanwhile: the replacement waits in the queue. That
    // nothing launches is the point, so there is no condition to wait for: 1.5 s is several
    // offer cycles in which it could have.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(json<{ tasksRunning: number }>(['app', 'show', 'pinned']).tasksRunning, 0);

    // Bad input: an unknown node is refused with the reason; reactivating twice is a conflict.
    const unknown = drover(['node', 'drain', 'no-such-node']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no agent with id or hostname no-such-node/);
    const badCall = await fetchAfterCli(`${dev.url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'DRAIN_AGENT' }) });
    assert.equal(badCall.status, 400);
    assert.match(((await badCall.json()) as { message: string }).message, /drain_agent/);

    const reactivated = drover(['node', 'reactivate', node.hostname]);
    assert.equal(reactivated.status, 0, reactivated.stderr);
    await eventually(() => json<{ tasksRunning: number }>(['app', 'show', 'pinned']).tasksRunning === 1, 'placed again after reactivation');
    const again = drover(['node', 'reactivate', node.id]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /not deactivated \(HTTP 409\)/);
    assert.equal(drover(['app', 'remove', '/pinned', '--force']).status, 0);
  });
});
