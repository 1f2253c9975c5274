/**
 * The install path of issue 22: the checkout packed with `npm pack` and installed with
 * `npm install -g` into a temporary prefix gives a `drover` that runs from any folder — as the
 * command on PATH and through `npx drover` — and talks to a live cluster; so does `npm install -g`
 * of the checkout itself (a link).
 *
 * Installing resolves the dependencies from npm's cache, else the registry (`--prefer-offline`),
 * as a user's install does. Install scripts are skipped: better-sqlite3's native build (a
 * download or a compile) is the store's, which client commands never load.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDrover, type DroverProcess } from '../devkit/process.ts';

const checkout = join(import.meta.dirname, '..');
let root: string;
/** The cluster starts while the checkout is packed and installed; the commands that talk to it wait for it. */
let devStarting: Promise<DroverProcess>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-install-'));
  devStarting = startDrover(['dev', '--port', '0', '--agent-port', '0', '--dns-port', '0', '--no-lb', '--data-dir', join(root, 'data')]);
  // A failed start is reported by the first test that needs the cluster.
  devStarting.catch(() => undefined);
});
after(async () => {
  await (await devStarting?.catch(() => undefined))?.stop();
  await rm(root, { recursive: true, force: true });
});

/** A command run to its end without blocking this process (the cluster's start is awaited meanwhile). */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; master?: DroverProcess },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...(options.master ? { DROVER_MASTER: options.master.url } : {}), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const bound = setTimeout(() => child.kill('SIGKILL'), 900_000);
  const status = await new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      stderr += String(e);
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  clearTimeout(bound);
  return { status, stdout, stderr };
}

describe('installing drover', () => {
  test('npm pack → npm install -g: drover on PATH and npx drover work outside the checkout, against a live cluster', async () => {
    const { version } = JSON.parse(await readFile(join(checkout, 'package.json'), 'utf8')) as { version: string };
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], { cwd: checkout });
    assert.equal(packed.status, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    for (const needed of ['bin/drover.cjs', 'bin/drover.js', 'src/cli/main.ts', 'package.json', 'README.md']) assert.ok(files.includes(needed), `${needed} is packed`);
    assert.ok(
      files.some((f) => f.startsWith('catalog/universe/')),
      'the built-in catalog is packed',
    );
    assert.deepEqual(
      files.filter((f) => /\.test(-child)?\.ts$/.test(f) || /^(test|devkit|bench|sim|node_modules)\//.test(f)),
      [],
      'no tests, harness or dependencies',
    );

    const prefix = join(root, 'prefix');
    const env = { npm_config_prefix: prefix, PATH: `${join(prefix, 'bin')}:${process.env['PATH']}` };
    const installed = await run('npm', ['install', '-g', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(root, info!.filename)], { cwd: root, env });
    assert.equal(installed.status, 0, installed.stderr);

    // From a folder that is not the checkout.
    const elsewhere = join(root, 'elsewhere');
    await mkdir(elsewhere);
    const onPath = await run('drover', ['--version'], { cwd: elsewhere, env });
    assert.equal(onPath.status, 0, onPath.stderr);
    assert.equal(onPath.stdout.trim(), version);
    const master = await devStarting;
    const nodes = await run('drover', ['node', 'list', '--json'], { cwd: elsewhere, env, master });
    assert.equal(nodes.status, 0, nodes.stderr);
    assert.equal((JSON.parse(nodes.stdout) as Array<{ active: boolean }>).filter((n) => n.active).length, 1);
    // npx finds the installed command (no registry: --offline would fail on a fetch).
    const npx = await run('npx', ['--offline', 'drover', 'app', 'list'], { cwd: elsewhere, env, master });
    assert.equal(npx.status, 0, npx.stderr);
    assert.match(npx.stdout, /^ID\s+INSTANCES\s+RUNNING/m);
  });

  test('npm install -g of the checkout links drover onto PATH', async () => {
    const prefix = join(root, 'linked');
    const env = { npm_config_prefix: prefix, PATH: `${join(prefix, 'bin')}:${process.env['PATH']}` };
    const installed = await run('npm', ['install', '-g', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', checkout], { cwd: root, env });
    assert.equal(installed.status, 0, installed.stderr);
    const nodes = await run('drover', ['node', 'list'], { cwd: root, env, master: await devStarting });
    assert.equal(nodes.status, 0, nodes.stderr);
    assert.match(nodes.stdout, /^HOSTNAME\s+STATE/m);
  });
});
