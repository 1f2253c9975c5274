/**
 * What every web UI test file starts with: the built UI, a real `drover dev` on a free port with
 * one agent registered, and Debian's Chromium; and what it ends with: its apps and jobs removed,
 * their tasks ended (`drover dev` stops without killing its tasks, which would outlive the test),
 * the browser and the cluster stopped, the data dir removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../devkit/etcd.ts';
import { eventually, startDrover, type DroverProcess } from '../../devkit/process.ts';
import { ensureWebBuilt, launchBrowser, type Browser } from './browser.ts';
import { httpCall } from './http.ts';

export interface UiCluster {
  /** The data dir (`--data-dir`). */
  root: string;
  dev: DroverProcess;
  browser: Browser;
  /** Starts `drover dev` again with the same arguments (same port and data dir), after a test stopped it. */
  restartDev(): Promise<DroverProcess>;
  /** Removes apps and jobs, waits for their tasks to end, stops the browser and the cluster. */
  close(): Promise<void>;
}

/**
 * `args` follow `drover dev --port P --agent-port 0 --data-dir D`; `ready` runs once the agent
 * registered and before Chromium starts (a file's own setup, e.g. an app to watch).
 */
export async function startUiCluster(name: string, args: string[], ready?: (dev: DroverProcess) => Promise<void>): Promise<UiCluster> {
  ensureWebBuilt();
  const root = await mkdtemp(join(tmpdir(), `drover-${name}-`));
  const port = await freePort();
  const devArgs = ['dev', '--port', String(port), '--agent-port', '0', '--data-dir', root, ...args];
  const cluster: UiCluster = {
    root,
    dev: undefined as unknown as DroverProcess,
    browser: undefined as unknown as Browser,
    async restartDev() {
      cluster.dev = await startDrover(devArgs, { timeoutMs: 120_000 });
      return cluster.dev;
    },
    async close() {
      await cluster.browser?.close();
      const dev = cluster.dev;
      if (dev) {
        const call = (method: string, path: string) => httpCall(dev.url, method, path).catch(() => ({ status: 0, body: undefined }));
        const { apps } = ((await call('GET', '/v2/apps')).body ?? {}) as { apps?: Array<{ id: string }> };
        for (const a of apps ?? []) await call('DELETE', `/v2/apps${a.id}?force=true`);
        const jobs = (await call('GET', '/v1/jobs')).body;
        for (const j of Array.isArray(jobs) ? (jobs as Array<{ id: string }>) : []) await call('DELETE', `/v1/jobs/${j.id}?stopCurrentJobRuns=true`);
        await eventually(async () => ((await httpCall(dev.url, 'GET', '/master/tasks?completed=false')).body as { tasks: unknown[] }).tasks.length === 0, 'every task ended', 60_000).catch(
          () => undefined,
        );
        await dev.stop();
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    const dev = await cluster.restartDev();
    await eventually(async () => ((await httpCall(dev.url, 'GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', 60_000);
    await ready?.(dev);
    cluster.browser = await launchBrowser();
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}
