/**
 * The fetcher against real files and a real HTTP server; archives made by the system's tar and
 * zip, hostile ones by Python's tarfile.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { silentLogger } from '../../log/index.ts';
import { Fetcher, FetchError, type FetchUri } from './fetcher.ts';

let root: string;
let files: string;
let server: Server;
let base: string;
const hits = new Map<string, number>();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-fetcher-'));
  files = join(root, 'files');
  await mkdir(join(files, 'app', 'bin'), { recursive: true });
  await writeFile(join(files, 'app', 'hello.txt'), 'hello\n');
  await writeFile(join(files, 'app', 'bin', 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await writeFile(join(files, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
  execFileSync('tar', ['-czf', join(files, 'app.tar.gz'), '-C', files, 'app']);
  execFileSync('zip', ['-qr', join(files, 'app.zip'), 'app'], { cwd: files });
  server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    hits.set(name, (hits.get(name) ?? 0) + 1);
    if (name === 'slow') return void setTimeout(() => res.end('late'), 5000).unref();
    readFile(join(files, name.replace(/\?.*$/, ''))).then(
      (body) => res.end(body),
      () => {
        res.statusCode = 404;
        res.end('no');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(root, { recursive: true, force: true });
});

let outer: string;
let sandbox: string;
let fetcher: Fetcher;
beforeEach(async () => {
  // The sandbox sits alone in `outer`, so "nothing written outside it" is checkable.
  outer = await mkdtemp(join(root, 'outer-'));
  sandbox = join(outer, 'sandbox');
  await mkdir(sandbox);
  // Host paths are refused unless allowed; these tests copy from `files` (see the allow-list test).
  fetcher = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger(), timeoutMs: 10_000, maxBytes: 1 << 20, allowedPaths: [files] });
});

async function rejected(uris: FetchUri[], by: Fetcher = fetcher): Promise<FetchError> {
  const err = await by.fetch(uris, sandbox).then(
    () => assert.fail('the fetch should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof FetchError, String(err));
  return err;
}

/** Writes a tar.gz with Python's tarfile, which will write entries GNU tar refuses to. */
async function hostileTar(name: string, script: string): Promise<string> {
  const out = join(files, name);
  execFileSync('python3', ['-c', `import sys,tarfile,io\nt=tarfile.open(sys.argv[1],'w:gz')\n${script}\nt.close()`, out]);
  return out;
}

describe('Fetcher', () => {
  test('copies file:// URIs and plain absolute paths; executable sets mode 755', async () => {
    await fetcher.fetch([{ value: pathToFileURL(join(files, 'app', 'hello.txt')).href }, { value: join(files, 'script.sh'), executable: true }], sandbox);
    assert.equal(await readFile(join(sandbox, 'hello.txt'), 'utf8'), 'hello\n');
    assert.equal((await stat(join(sandbox, 'script.sh'))).mode & 0o777, 0o755);
  });

  test('downloads http:// URIs, into output_file when given', async () => {
    await fetcher.fetch([{ value: `${base}/script.sh`, output_file: 'tools/s.sh' }], sandbox);
    assert.equal(await readFile(join(sandbox, 'tools', 's.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
  });

  test('extracts .tar.gz and .zip into the sandbox, keeping modes; extract: false leaves the archive', async () => {
    await fetcher.fetch([{ value: `${base}/app.tar.gz` }], sandbox);
    assert.equal(await readFile(join(sandbox, 'app', 'hello.txt'), 'utf8'), 'hello\n');
    assert.equal((await stat(join(sandbox, 'app', 'bin', 'run'))).mode & 0o777, 0o755);

    const second = join(outer, 'second');
    await mkdir(second);
    await fetcher.fetch([{ value: join(files, 'app.zip') }], second);
    assert.equal(await readFile(join(second, 'app', 'hello.txt'), 'utf8'), 'hello\n');
    assert.equal((await stat(join(second, 'app', 'bin', 'run'))).mode & 0o777, 0o755);

    const third = join(outer, 'third');
    await mkdir(third);
    await fetcher.fetch([{ value: `${base}/app.zip`, extract: false }], third);
    assert.deepEqual(await readdir(third), ['app.zip']);
  });

  test('cache: the second fetch of a URI does not reach the server', async () => {
    const uri = { value: `${base}/app.tar.gz?v=cache-test`, output_file: 'app.tar.gz', cache: true };
    await fetcher.fetch([uri], sandbox);
    const other = join(outer, 'other');
    await mkdir(other);
    await fetcher.fetch([uri], other);
    assert.equal(hits.get('app.tar.gz?v=cache-test'), 1);
    assert.equal(await readFile(join(other, 'app', 'hello.txt'), 'utf8'), 'hello\n');
  });

  test('a 404, a missing file, an unknown scheme, a timeout and the size cap fail with the URI and why', async () => {
    assert.match((await rejected([{ value: `${base}/missing.tgz` }])).message, new RegExp(`^Failed to fetch '${base}/missing.tgz': HTTP 404`));
    assert.match((await rejected([{ value: join(files, 'nonexistent.txt') }])).message, /nonexistent.txt': no such file/);
    assert.match((await rejected([{ value: 'hdfs://namenode/x.jar' }])).message, /unsupported URI scheme 'hdfs'/);
    const impatient = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger(), timeoutMs: 300 });
    const late = await impatient.fetch([{ value: `${base}/slow` }], sandbox).catch((e: unknown) => e as Error);
    assert.match(String(late), /'http:\/\/127\.0\.0\.1:\d+\/slow': no answer within 300 ms/);
    const small = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger(), maxBytes: 10 });
    const err = await small.fetch([{ value: `${base}/app.zip` }], sandbox).catch((e: unknown) => e as Error);
    assert.match(String(err), /over the 10-byte limit|exceeds the 10-byte limit/);
    assert.match((await rejected([{ value: `${base}/script.sh`, output_file: '../escape.sh' }])).message, /not a relative path inside the sandbox/);
  });

  test('hostile archives are refused whole, and nothing lands outside the sandbox', async () => {
    const absolute = join(outer, 'absolute-evil');
    const dotdot = await hostileTar('dotdot.tar.gz', `i=tarfile.TarInfo('ok.txt'); i.size=2; t.addfile(i,io.BytesIO(b'ok'))\ni=tarfile.TarInfo('../evil'); i.size=4; t.addfile(i,io.BytesIO(b'evil'))`);
    const abs = await hostileTar('abs.tar.gz', `i=tarfile.TarInfo('${absolute}'); i.size=4; t.addfile(i,io.BytesIO(b'evil'))`);
    const link = await hostileTar(
      'link.tar.gz',
      `i=tarfile.TarInfo('etc'); i.type=tarfile.SYMTYPE; i.linkname='/etc'; t.addfile(i)\ni=tarfile.TarInfo('out'); i.type=tarfile.SYMTYPE; i.linkname='${outer}'; t.addfile(i)\ni=tarfile.TarInfo('out/evil'); i.size=4; t.addfile(i,io.BytesIO(b'evil'))`,
    );
    assert.match((await rejected([{ value: dotdot }])).message, /dotdot.tar.gz': entry "\.\.\/evil" has a '\.\.' segment/);
    assert.match((await rejected([{ value: abs }])).message, /has an absolute path/);
    assert.match((await rejected([{ value: `${base}/link.tar.gz` }])).message, /symlink "etc" points outside the sandbox \(\/etc\)/);
    assert.ok(link.endsWith('link.tar.gz'));
    // Only the archives themselves were written, and only into the sandbox.
    assert.deepEqual(await readdir(outer), ['sandbox']);
    assert.deepEqual((await readdir(sandbox)).sort(), ['abs.tar.gz', 'dotdot.tar.gz', 'link.tar.gz']);
  });

  test('an archive cannot write through a symlink an earlier URI left in the sandbox', async () => {
    // Planted by hand (no archive could); the extraction must notice at write time.
    execFileSync('ln', ['-s', outer, join(sandbox, 'planted')]);
    const tar = await hostileTar('through.tar.gz', `i=tarfile.TarInfo('planted/evil'); i.size=4; t.addfile(i,io.BytesIO(b'evil'))`);
    assert.match((await rejected([{ value: tar }])).message, /leads outside the sandbox/);
    assert.deepEqual(await readdir(outer), ['sandbox']);
    assert.equal(await readlink(join(sandbox, 'planted')), outer);
  });

  test('host paths: none without an allow-list; under it, the real path must stay under it, cache or not', async () => {
    const closed = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger() });
    assert.equal(
      (await rejected([{ value: join(files, 'script.sh') }], closed)).message,
      `Failed to fetch '${join(files, 'script.sh')}': host path ${join(files, 'script.sh')} is not under the agent's --fetcher-allowed-paths (none are allowed on this agent)`,
    );

    await symlink('/etc/hostname', join(files, 'out-link'));
    assert.match((await rejected([{ value: join(files, 'out-link') }])).message, /out-link resolves to \/etc\/hostname, outside the agent's --fetcher-allowed-paths$/);
    assert.match((await rejected([{ value: 'file:///etc/hostname' }])).message, /host path \/etc\/hostname is not under the agent's --fetcher-allowed-paths \(allowed: /);

    // Cached while allowed; an agent that no longer allows it does not serve the copy either.
    await fetcher.fetch([{ value: join(files, 'script.sh'), cache: true }], sandbox);
    const later = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger(), allowedPaths: [join(files, 'app')] });
    const other = join(outer, 'other');
    await mkdir(other);
    await assert.rejects(later.fetch([{ value: join(files, 'script.sh'), cache: true }], other), /is not under the agent's --fetcher-allowed-paths \(allowed: /);
    assert.deepEqual(await readdir(other), []);
  });

  test('size and entry-count bombs are refused before a byte is extracted', async () => {
    // 2 MB of zeros (a few KB compressed) against a 1 MB expansion limit; the first entry is small.
    const bomb = await hostileTar(
      'bomb.tar.gz',
      `i=tarfile.TarInfo('first.txt'); i.size=2; t.addfile(i,io.BytesIO(b'ok'))\ni=tarfile.TarInfo('zeros'); i.size=2<<20; t.addfile(i,io.BytesIO(bytes(2<<20)))`,
    );
    const limited = new Fetcher({ cacheDir: join(root, 'cache'), logger: silentLogger(), allowedPaths: [files], maxExtractedBytes: 1 << 20, maxArchiveEntries: 3 });
    assert.match((await rejected([{ value: bomb }], limited)).message, /bomb.tar.gz': archive expands to more than 1048576 bytes$/);
    const many = await hostileTar('many.tar.gz', `for n in range(4):\n  i=tarfile.TarInfo(f'f{n}'); i.size=1; t.addfile(i,io.BytesIO(b'x'))`);
    assert.match((await rejected([{ value: many }], limited)).message, /many.tar.gz': archive has more than 3 entries$/);
    assert.deepEqual((await readdir(sandbox)).sort(), ['bomb.tar.gz', 'many.tar.gz'], 'only the archives themselves');
  });

  test('hostile zips: a ../ name and a symlink out are refused, nothing lands outside', async () => {
    const zip = (name: string, script: string): string => {
      const out = join(files, name);
      execFileSync('python3', ['-c', `import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1],'w')\n${script}\nz.close()`, out]);
      return out;
    };
    const dotdot = zip('dotdot.zip', `z.writestr('ok.txt','ok')\nz.writestr('../evil','evil')`);
    const link = zip('link.zip', `i=zipfile.ZipInfo('etc'); i.create_system=3; i.external_attr=(0o120777<<16); z.writestr(i,'/etc')`);
    assert.match((await rejected([{ value: dotdot }])).message, /dotdot.zip': .*\.\.\/evil/);
    assert.match((await rejected([{ value: link }])).message, /link.zip': symlink "etc" points outside the sandbox \(\/etc\)/);
    assert.deepEqual(await readdir(outer), ['sandbox']);
    assert.deepEqual((await readdir(sandbox)).sort(), ['dotdot.zip', 'link.zip']);
  });
});
