/**
 * What the SQLite store does with damaged, lost or stale files. "Crash images" are copies of the
 * store's files taken while it is open — what a killed process leaves behind (the WAL not yet
 * checkpointed) — so a test can then truncate or corrupt the WAL the way a disk or a careless
 * restore would. The power-loss test (unsynced data really dropped) is test/store-durability.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, openSync, closeSync, readSync, rmSync, statSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isDroverError } from '../../errors/errors.ts';
import { readRevisionMark } from './revision-mark.ts';
import { openSqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'drover-sqlite-durability-'));
let files = 0;
const fresh = (): string => join(dir, `store-${files++}.db`);
after(() => rmSync(dir, { recursive: true, force: true }));

const SIDE_FILES = ['', '-wal', '.id', '.rev'];

/** Copies the store's files as they are on disk now (the store stays open): a crash image. */
function crashImage(path: string): string {
  const copy = fresh();
  for (const suffix of SIDE_FILES) if (existsSync(path + suffix)) copyFileSync(path + suffix, copy + suffix);
  return copy;
}

function refusal(path: string): string {
  try {
    openSqliteStore(path).close();
  } catch (error) {
    assert.ok(isDroverError(error, 'STORE_DAMAGED'), `expected STORE_DAMAGED, got ${String(error)}`);
    assert.ok(error.message.includes(path), `the message names the file: ${error.message}`);
    return error.message;
  }
  assert.fail(`${path} opened; it should have been refused`);
}

/** A checkpointed store, then `n` keys written one commit each, left open (in the WAL only). */
async function withCommits(n: number): Promise<{ path: string; store: ReturnType<typeof openSqliteStore>; revision: number }> {
  const path = fresh();
  const base = openSqliteStore(path);
  await base.put('/base', 'checkpointed');
  await base.close(); // checkpoints: schema, identity and /base are in the database file
  const store = openSqliteStore(path);
  let revision = 0;
  for (let i = 0; i < n; i++) revision = (await store.put(`/k/${i}`, `value-${i}`)).revision;
  return { path, store, revision };
}

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

function walFrames(path: string, pageSize = 4096): number {
  return (statSync(`${path}-wal`).size - WAL_HEADER) / (FRAME_HEADER + pageSize);
}

describe('SQLite store files are private', () => {
  let umask: number;
  before(() => (umask = process.umask(0o022))); // the usual umask, which makes new files 644
  after(() => process.umask(umask));

  test('db, -wal and the sidecars are 600; an older 644 file is tightened', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    await store.put('secret', 'x');
    for (const suffix of SIDE_FILES) assert.equal(statSync(path + suffix).mode & 0o777, 0o600, `${path}${suffix}`);
    // locking_mode=EXCLUSIVE before WAL: the wal-index lives in the heap, so there is no -shm.
    assert.equal(existsSync(`${path}-shm`), false);
    await store.close();

    chmodSync(path, 0o644); // as an older Drover left it
    const again = openSqliteStore(path);
    await again.put('secret', 'y');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    await again.close();
  });
});

describe('SQLite store cluster identity', () => {
  test('a store that was emptied or deleted is refused, not re-created as a new cluster', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    const { cluster } = store;
    await store.put('k', 'v');
    await store.close();

    truncateSync(path, 0);
    const message = refusal(path);
    assert.match(message, /missing or empty/);
    assert.ok(message.includes(cluster.clusterId) && message.includes(`${path}.id`), message);
    assert.equal(statSync(path).size, 0, 'the refused file was left as it was');

    unlinkSync(path);
    assert.match(refusal(path), /missing or empty/);
    assert.equal(existsSync(path), false, 'a refused open creates no file');

    // The documented way to start over: delete the sidecar. Then it is a new cluster.
    unlinkSync(`${path}.id`);
    const renewed = openSqliteStore(path);
    assert.notEqual(renewed.cluster.clusterId, cluster.clusterId);
    assert.equal(await renewed.get('k'), undefined);
    await renewed.close();
  });

  test("another cluster's store file put in its place is refused", async () => {
    const [mine, theirs] = [fresh(), fresh()];
    for (const path of [mine, theirs]) {
      const store = openSqliteStore(path);
      await store.put('k', path);
      await store.close();
    }
    copyFileSync(theirs, mine);
    assert.match(refusal(mine), /replaced by another cluster's store/);
  });

  test('a store from before cluster identities is adopted: identity and sidecar written, data kept', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    await store.put('k', 'v');
    await store.close();
    // What an older Drover left: no `cluster` table, no sidecars.
    const raw = new Database(path);
    raw.exec('DROP TABLE cluster');
    raw.close();
    unlinkSync(`${path}.id`);
    unlinkSync(`${path}.rev`);

    const adopted = openSqliteStore(path);
    assert.equal((await adopted.get('k'))?.value, 'v');
    const id = adopted.cluster.clusterId;
    await adopted.close();
    const reopened = openSqliteStore(path);
    assert.equal(reopened.cluster.clusterId, id, 'the adopted identity is kept');
    await reopened.close();
  });
});

describe('SQLite store never serves older state silently', () => {
  test('a crash image with its WAL intact opens with every commit (the copy method is sound)', async () => {
    const { path, store, revision } = await withCommits(30);
    const image = crashImage(path);
    await store.close();
    assert.ok(statSync(`${image}-wal`).size > WAL_HEADER, 'the image carries an uncheckpointed WAL');
    const reopened = openSqliteStore(image);
    assert.equal(await reopened.revision(), revision);
    assert.equal((await reopened.range('/k/')).kvs.length, 30);
    await reopened.close();
  });

  test('a truncated WAL is refused; deleting the mark accepts the loss', async () => {
    const { path, store, revision } = await withCommits(30);
    const image = crashImage(path);
    await store.close();
    assert.equal(readRevisionMark(image)?.revision, revision);
    // Cut the last two frames: the last commit frame goes, so SQLite would open an older revision.
    truncateSync(`${image}-wal`, WAL_HEADER + (walFrames(image) - 2) * (FRAME_HEADER + 4096));
    const message = refusal(image);
    assert.match(message, new RegExp(`is at revision \\d+, but this store had committed revision ${revision}`));
    assert.match(message, /delete .*\.rev/);

    unlinkSync(`${image}.rev`);
    const accepted = openSqliteStore(image);
    assert.ok((await accepted.revision()) < revision);
    await accepted.close();
  });

  test('a corrupted WAL frame is refused (SQLite would drop it and every later commit)', async () => {
    const { path, store } = await withCommits(30);
    const image = crashImage(path);
    await store.close();
    const frame = Math.floor(walFrames(image) / 2);
    const fd = openSync(`${image}-wal`, 'r+');
    const at = WAL_HEADER + frame * (FRAME_HEADER + 4096) + FRAME_HEADER + 100;
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, at);
    closeSync(fd);
    assert.match(refusal(image), /Commits were lost/);
  });

  test('a deleted WAL is refused', async () => {
    const { path, store } = await withCommits(10);
    const image = crashImage(path);
    await store.close();
    unlinkSync(`${image}-wal`);
    assert.match(refusal(image), /Commits were lost/);
  });

  test('an older copy of the database restored over the store is refused', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    await store.put('k', 'old');
    await store.close();
    const backup = `${path}.backup`;
    copyFileSync(path, backup);
    const later = openSqliteStore(path);
    await later.put('k', 'new');
    await later.close();
    copyFileSync(backup, path);
    assert.match(refusal(path), /restored from an older copy/);
  });

  test('a damaged database page fails the integrity check', async () => {
    const path = fresh();
    const store = openSqliteStore(path);
    const writer = store.batchWriter();
    await Promise.all(Array.from({ length: 3000 }, (_, i) => writer.put(`/k/${String(i).padStart(5, '0')}`, 'v'.repeat(200))));
    await store.close(); // checkpointed into the file; the WAL is gone
    assert.equal(existsSync(`${path}-wal`), false);
    // Scribble over a page in the middle of the file, as a bad sector would.
    const pages = statSync(path).size / 4096;
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(pages / 2) * 4096);
    closeSync(fd);
    const message = refusal(path);
    assert.match(message, /integrity check|not a readable SQLite database/);
    assert.match(message, /restore both from a backup/);
  });

  test('kill -9 while committing: every acknowledged write is there, and the store opens', async () => {
    const path = fresh();
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./acknowledging-writer.test-child.ts', import.meta.url).pathname, path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acknowledged: string[] = [];
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      acknowledged.push(line);
      if (acknowledged.length === 2000) child.kill('SIGKILL');
    }
    await exited;
    assert.ok(acknowledged.length >= 2000);
    const reopened = openSqliteStore(path);
    const present = new Set([...(await reopened.range('/b/')).kvs, ...(await reopened.range('/s/')).kvs].map((kv) => kv.key));
    const missing = acknowledged.filter((key) => !present.has(key));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${acknowledged.length} acknowledged writes lost`);
    await reopened.close();
  });
});
