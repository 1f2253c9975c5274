/**
 * A build done once per machine, not once per test run: its output lives in a folder under
 * os.tmpdir() named by a hash of the recipe, so a changed recipe builds anew and an unchanged one
 * is reused by later runs (and by later clean clones on the same machine). The build writes into
 * a private folder that is renamed into place only when it succeeded, so a concurrent or killed
 * run never sees half an output. DROVER_TEST_REBUILD=1 builds anew regardless.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The folder holding `build`'s output for `recipe` (anything JSON that names every input). */
export async function cachedBuild(name: string, recipe: unknown, build: (dir: string) => Promise<void>): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `drover-test-cache-${name}-${hash}`);
  const rebuild = process.env['DROVER_TEST_REBUILD'] === '1';
  if (existsSync(dir) && !rebuild) return dir;
  const work = `${dir}.building-${process.pid}-${randomUUID().slice(0, 8)}`;
  await mkdir(work, { recursive: true, mode: 0o755 });
  try {
    await build(work);
    if (rebuild) await rm(dir, { recursive: true, force: true });
    await rename(work, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another run finished the same recipe first: keep its copy.
      if (!existsSync(dir)) throw err;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return dir;
}
