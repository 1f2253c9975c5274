/**
 * Images in the web UI, in Chromium, on a live `drover dev` pulling from a real docker-registry on
 * loopback (devkit/registry.ts): an app in an image shows it in the services list and on its
 * page, its running task shows it on the Tasks page; an app whose image the registry does not
 * have shows the failed pull — the image and the registry's answer — as its last failure.
 *
 * No timing assertions: every wait is eventually()/Playwright's auto-wait with generous bounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildTestImages, pushImage, startRegistry, type Registry } from '../devkit/registry.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { ensureWebBuilt, launchBrowser, screenshot, type Browser } from './support/browser.ts';
import { linuxUnavailable } from './support/agent.ts';
import { killImageTasksUnder } from './support/image-tasks.ts';
import { httpCall } from './support/http.ts';

const run = promisify(execFile);
const WAIT_MS = 180_000;
const SLOW = { timeout: WAIT_MS };

describe('images in the UI', { skip: linuxUnavailable() }, () => {
  let dir: string;
  let registry: Registry;
  let dev: DroverProcess;
  let browser: Browser;

  before(async () => {
    ensureWebBuilt();
    dir = await mkdtemp(join(tmpdir(), 'drover-imgui-'));
    await chmod(dir, 0o755);
    const images = await buildTestImages(dir);
    registry = await startRegistry({ dir });
    await pushImage(images, 'hello', registry, 'drover/hello:latest');
    dev = await startDrover(['dev', '--port', '0', '--agent-port', '0', '--no-lb', '--data-dir', join(dir, 'data'), '--resources', 'cpus:4;mem:4096;disk:2000;ports:[22900-22950]']);
    await eventually(async () => ((await httpCall(dev.url, 'GET', '/master/state')).body as { slaves: unknown[] }).slaves.length === 1, 'the agent registered', WAIT_MS);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await dev?.stop();
    killImageTasksUnder(dir);
    await registry?.stop();
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`));
    for (const m of mounts.reverse()) await run('umount', ['--lazy', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });

  test('an image app shows its image in the list, on its page and on its task; a failed pull shows the image and the registry’s error', async () => {
    const image = `${registry.host}/drover/hello`;
    const missing = `${registry.host}/drover/nowhere`;
    const post = async (app: unknown): Promise<void> => assert.equal((await httpCall(dev.url, 'POST', '/v2/apps', app)).status, 201);
    await post({ id: '/ui/img', cmd: 'sleep 1000', cpus: 0.1, mem: 32, container: { type: 'DOCKER', docker: { image } } });
    await post({ id: '/ui/nopull', cmd: 'true', cpus: 0.1, mem: 32, container: { type: 'MESOS', docker: { image: missing } } });

    const { page } = browser;
    await page.goto(`${dev.url}/services`);
    await page.locator('[data-key="/ui/img"]').getByTestId('app-image').filter({ hasText: image }).waitFor(SLOW);
    await page.locator('[data-key="/ui/img"]').getByTestId('running').filter({ hasText: '1 / 1' }).waitFor(SLOW);

    await page.goto(`${dev.url}/services/ui/img`);
    await page.getByText(image, { exact: true }).first().waitFor(SLOW);
    await page.getByTestId('instances-summary').filter({ hasText: '1 of 1 running' }).waitFor(SLOW);

    await page.goto(`${dev.url}/tasks`);
    const taskImage = page.getByTestId('task-image').filter({ hasText: image });
    await taskImage.first().waitFor(SLOW);

    // The pull of an image the registry lacks: the service page says which image and why.
    await page.goto(`${dev.url}/services/ui/nopull`);
    const failure = page.getByText(/Last failure/);
    await failure.waitFor(SLOW);
    const text = (await failure.textContent()) ?? '';
    await screenshot(page, 'image-pull-failure');
    assert.ok(text.includes(missing), text);
    assert.match(text, /TASK_FAILED|failed/i);
    assert.match(text, /MANIFEST_UNKNOWN|manifest unknown|not found|404/i, text);
  });
});
