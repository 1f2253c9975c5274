/**
 * The agent's HTTP API: /ping, /state and the Mesos /files endpoints, over a real socket, with
 * files laid out in a real work dir. Confinement is the point: nothing outside the work dir is
 * ever served, whether reached by `..`, an absolute path or a symlink a task left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile, appendFile, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { eventually } from '../devkit/process.ts';
import { Agent } from '../src/agent/agent.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';

let workDir: string;
let outside: string;
let agent: Agent;
let sandbox: string;

async function get(path: string): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const response = await fetch(`${agent.url}${path}`);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, headers: response.headers };
}

const q = encodeURIComponent;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'drover-agent-files-'));
  outside = await mkdtemp(join(tmpdir(), 'drover-outside-'));
  await writeFile(join(outside, 'secret'), 'top secret');
  sandbox = join(workDir, 'slaves', 'S1', 'frameworks', 'fw', 'executors', 't1', 'runs', 'c1');
  await mkdir(join(sandbox, 'sub'), { recursive: true });
  await writeFile(join(sandbox, 'stdout'), 'hello world\n');
  await writeFile(join(sandbox, 'stderr'), '');
  await writeFile(join(sandbox, 'sub', 'data.bin'), Buffer.alloc(100_000, 0x61));
  await symlink(join(outside, 'secret'), join(sandbox, 'escape'));
  await symlink(outside, join(sandbox, 'escape-dir'));
  // No master is listening there: the HTTP API works regardless.
  agent = new Agent({
    masterUrl: 'http://127.0.0.1:1',
    port: 0,
    workDir,
    resources: Resources.parse('cpus:1;mem:128'),
    detectResources: false,
    hostname: 'files-agent',
    logger: silentLogger(),
    reconnectBackoff: { initialMs: 100, maxMs: 500 },
  });
  await agent.start();
});

after(async () => {
  await agent.shutdown(0);
  await rm(workDir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('agent HTTP API', () => {
  test('/ping answers pong, /state describes the agent', async () => {
    const ping = await get('/ping');
    assert.equal(ping.status, 200);
    assert.equal(ping.text, 'pong');
    const state = (await get('/state')).body as Record<string, unknown>;
    assert.equal(state['hostname'], 'files-agent');
    assert.equal(state['registered'], false);
    assert.equal(state['port'], agent.port);
    assert.deepEqual(Resources.fromJSON(state['resources_full']).format(), 'cpus:1;mem:128');
    assert.deepEqual(state['tasks'], []);
  });
});

describe('/files/browse', () => {
  test('lists a directory sorted by path, with Mesos file info', async () => {
    const { status, body } = await get(`/files/browse?path=${q(sandbox)}`);
    assert.equal(status, 200);
    const entries = body as Array<{ path: string; size: number; mode: string; nlink: number; mtime: number; uid: string; gid: string }>;
    // Symlinks are listed, but one that leads out of the work dir is described as the link
    // itself: listing must not reveal the size or age of a file it may not read.
    assert.deepEqual(
      entries.map((e) => e.path),
      ['escape', 'escape-dir', 'stderr', 'stdout', 'sub'].map((n) => `${sandbox}/${n}`),
    );
    assert.match(entries.find((e) => e.path === `${sandbox}/escape`)!.mode, /^l/);
    const stdout = entries.find((e) => e.path === `${sandbox}/stdout`)!;
    assert.equal(stdout.size, 12);
    assert.match(stdout.mode, /^-rw/);
    assert.equal(typeof stdout.mtime, 'number');
    assert.equal(typeof stdout.uid, 'string');
    assert.match(entries.find((e) => e.path === `${sandbox}/sub`)!.mode, /^d/);
    const paths = entries.map((e) => e.path);
    assert.deepEqual(paths, [...paths].sort());
  });

  test('a relative path is relative to the work dir; a file lists itself', async () => {
    const { status, body } = await get(`/files/browse?path=${q('slaves/S1/frameworks/fw/executors/t1/runs/c1/stdout')}`);
    assert.equal(status, 200);
    assert.equal((body as Array<{ size: number }>)[0]!.size, 12);
  });

  test('400 without a path, 404 for a missing one', async () => {
    assert.equal((await get('/files/browse')).status, 400);
    assert.equal((await get(`/files/browse?path=${q(join(sandbox, 'nope'))}`)).status, 404);
  });

  test('refuses paths outside the work dir: .., absolute, and symlinks out of a sandbox', async () => {
    assert.equal((await get(`/files/browse?path=${q(`${sandbox}${'/..'.repeat(20)}${outside}`)}`)).status, 403);
    assert.equal((await get(`/files/browse?path=${q('../')}`)).status, 403);
    assert.equal((await get(`/files/browse?path=${q(outside)}`)).status, 403);
    assert.equal((await get(`/files/browse?path=${q(join(sandbox, 'escape-dir'))}`)).status, 403);
    assert.equal((await get(`/files/read?path=${q(join(sandbox, 'escape'))}&offset=0`)).status, 403);
    assert.equal((await get(`/files/read?path=${q('/etc/passwd')}&offset=0`)).status, 403);
    assert.equal((await get(`/files/download?path=${q(join(sandbox, 'escape'))}`)).status, 403);
  });
});

describe('/files/read', () => {
  const stdout = (): string => q(join(sandbox, 'stdout'));

  test('offset=-1 (and no offset) answers the file size and no data, for tailing', async () => {
    assert.deepEqual((await get(`/files/read?path=${stdout()}&offset=-1`)).body, { offset: 12, data: '' });
    assert.deepEqual((await get(`/files/read?path=${stdout()}`)).body, { offset: 12, data: '' });
  });

  test('reads length bytes from offset; length=-1 reads to the end; past the end is empty', async () => {
    assert.deepEqual((await get(`/files/read?path=${stdout()}&offset=0&length=5`)).body, { offset: 0, data: 'hello' });
    assert.deepEqual((await get(`/files/read?path=${stdout()}&offset=6&length=-1`)).body, { offset: 6, data: 'world\n' });
    assert.deepEqual((await get(`/files/read?path=${stdout()}&offset=6`)).body, { offset: 6, data: 'world\n' });
    assert.deepEqual((await get(`/files/read?path=${stdout()}&offset=100`)).body, { offset: 12, data: '' });
  });

  test('follows a growing file', async () => {
    const path = join(sandbox, 'growing');
    await writeFile(path, 'a');
    const first = (await get(`/files/read?path=${q(path)}&offset=-1`)).body as { offset: number };
    await appendFile(path, 'bc');
    assert.deepEqual((await get(`/files/read?path=${q(path)}&offset=${first.offset}`)).body, { offset: 1, data: 'bc' });
  });

  test('caps one read at 16 pages', async () => {
    const { body } = await get(`/files/read?path=${q(join(sandbox, 'sub', 'data.bin'))}&offset=0&length=-1`);
    assert.equal((body as { data: string }).data.length, 65536);
  });

  test('400 for bad parameters and directories, 404 for missing files', async () => {
    assert.equal((await get(`/files/read?path=${stdout()}&offset=abc`)).status, 400);
    assert.equal((await get(`/files/read?path=${stdout()}&offset=-2`)).status, 400);
    assert.equal((await get(`/files/read?path=${stdout()}&offset=0&length=1.5`)).status, 400);
    assert.equal((await get(`/files/read?path=${stdout()}&offset=0&offset=1`)).status, 400);
    assert.equal((await get(`/files/read?offset=0`)).status, 400);
    assert.equal((await get(`/files/read?path=${q(sandbox)}&offset=0`)).status, 400);
    assert.equal((await get(`/files/read?path=${q(join(sandbox, 'nope'))}&offset=0`)).status, 404);
  });
});

describe('/files/download', () => {
  test('returns the raw bytes as an attachment', async () => {
    const { status, text, headers } = await get(`/files/download?path=${q(join(sandbox, 'stdout'))}`);
    assert.equal(status, 200);
    assert.equal(text, 'hello world\n');
    assert.equal(headers.get('content-type'), 'application/octet-stream');
    assert.match(headers.get('content-disposition') ?? '', /attachment; filename="stdout"/);
    assert.equal((await get(`/files/download?path=${q(sandbox)}`)).status, 400);
  });
});

describe('confinement: every way out leaks nothing', () => {
  // Each is sent as written (no re-encoding by the test): the query parser decodes once.
  const variants = (): Array<[string, string]> => {
    const up = '/..'.repeat(20);
    return [
      ['dot-dot', `${sandbox}${up}${outside}/secret`],
      ['relative dot-dot', q(`${relative(workDir, outside)}/secret`)],
      ['percent-encoded dots', `${sandbox}${'/%2e%2e'.repeat(20)}${outside}/secret`],
      ['percent-encoded slashes', `${sandbox}${'%2f%2E%2E'.repeat(20)}${outside}%2fsecret`],
      ['double-encoded dots', `${sandbox}${'/%252e%252e'.repeat(20)}${outside}/secret`],
      ['absolute outside', q(`${outside}/secret`)],
      ['NUL byte', `${q(join(sandbox, 'stdout'))}%00${q(`/../../${outside}/secret`)}`],
      ['symlink to a file outside', q(join(sandbox, 'escape'))],
      ['through a symlinked dir', q(join(sandbox, 'escape-dir', 'secret'))],
    ];
  };

  for (const endpoint of ['browse', 'read', 'download', 'follow']) {
    test(`/files/${endpoint}`, async () => {
      for (const [name, path] of variants()) {
        const extra = endpoint === 'read' ? '&offset=0' : endpoint === 'follow' ? '&offset=0&timeout=0.2' : '';
        const { status, text } = await get(`/files/${endpoint}?path=${path}${extra}`);
        assert.ok(status >= 400 && status < 500, `${name}: ${status}`);
        assert.ok(!text.includes('top secret'), `${name} leaked the secret`);
      }
    });
  }
});

describe('/files/follow', () => {
  /** Reads a follow stream in the background; `text()` is what arrived so far, `ended` resolves to all of it. */
  function follow(body: ReadableStream<Uint8Array>): { text(): string; ended: Promise<string>; cancel(): Promise<void> } {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const ended = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
      } catch {
        // cancelled
      }
      return text;
    })();
    return { text: () => text, ended, cancel: () => reader.cancel().catch(() => undefined) };
  }

  test('by default sends only what is appended after connecting', async () => {
    const path = join(sandbox, 'follow-end.log');
    await writeFile(path, 'before\n');
    const response = await fetch(`${agent.url}/files/follow?path=${q(path)}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const stream = follow(response.body!);
    try {
      await appendFile(path, 'line 1\n');
      await eventually(() => stream.text() === 'line 1\n', 'the first append', 5000);
      await appendFile(path, 'line 2\n');
      await eventually(() => stream.text() === 'line 1\nline 2\n', 'the second append', 5000);
    } finally {
      await stream.cancel();
    }
  });

  test('offset=0 starts from the beginning; a truncated file is read again from 0', async () => {
    const path = join(sandbox, 'follow-start.log');
    await writeFile(path, 'old old old\n');
    const response = await fetch(`${agent.url}/files/follow?path=${q(path)}&offset=0`);
    const stream = follow(response.body!);
    try {
      await eventually(() => stream.text() === 'old old old\n', 'the file from offset 0', 5000);
      await truncate(path, 0);
      await appendFile(path, 'new\n'); // shorter than what was sent: the follower sees the truncation
      await eventually(() => stream.text() === 'old old old\nnew\n', 'the file read again from 0', 5000);
    } finally {
      await stream.cancel();
    }
  });

  test('a followed file swapped for a symlink out of the work dir sends nothing of its target', async () => {
    const path = join(sandbox, 'follow-swap.log');
    await writeFile(path, 'mine\n');
    const response = await fetch(`${agent.url}/files/follow?path=${q(path)}&offset=0&timeout=0.6`);
    const stream = follow(response.body!);
    await eventually(() => stream.text() === 'mine\n', 'the file before the swap', 5000);
    // What a hostile task can do to its own sandbox: rotate its log into a link to a host file.
    await rm(path);
    await symlink(join(outside, 'secret'), path);
    assert.equal(await stream.ended, 'mine\n');
  });

  test('timeout ends the stream; bad parameters are 400', async () => {
    const path = join(sandbox, 'follow-timeout.log');
    await writeFile(path, 'x');
    const started = Date.now();
    const { status, text } = await get(`/files/follow?path=${q(path)}&offset=0&timeout=0.3`);
    assert.equal(status, 200);
    assert.equal(text, 'x');
    assert.ok(Date.now() - started >= 250);
    assert.equal((await get(`/files/follow?path=${q(path)}&timeout=abc`)).status, 400);
    assert.equal((await get(`/files/follow?path=${q(path)}&timeout=0`)).status, 400);
    assert.equal((await get(`/files/follow?path=${q(sandbox)}&timeout=1`)).status, 400);
    assert.equal((await get(`/files/follow?path=${q(join(sandbox, 'nope'))}`)).status, 404);
  });
});
