/**
 * The UI never surprises (issue 22), in Chromium against a real `drover dev`:
 * - the create-service form's defaults make an app that runs: a host port (so `$PORT0` is set)
 *   and a working HTTP health check; its mistakes are told in words, at the field;
 * - a service is edited from the form and from JSON;
 * - services under `/team/*` show as a group tree;
 * - at 800 px wide nothing overflows sideways; a dark theme exists and the charts follow it.
 * Screenshots go to test-results/ui/. No timing assertions: waits are Playwright's auto-waiting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type DroverProcess } from '../devkit/process.ts';
import type { Page } from 'playwright-core';
import { screenshot, type Browser } from './support/browser.ts';
import { startUiCluster, type UiCluster } from './support/ui-cluster.ts';

const SLOW = { timeout: 90_000 };
const TEST = { timeout: 300_000 };
let ui: UiCluster;
let dev: DroverProcess;
let browser: Browser;

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${dev.url}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

before(async () => {
  ui = await startUiCluster('ui-forms', ['--no-lb', '--usage-interval', '2secs', '--resources', 'cpus:4;mem:4096;disk:2000;ports:[23000-23050]']);
  ({ dev, browser } = ui);
});

after(() => ui?.close());

const dialog = (page: Page) => page.getByRole('dialog');

describe('forms that make apps that run', () => {
  test('the form tells mistakes in words at their field, and sends nothing', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services`);
    await page.getByRole('button', { name: 'Create service' }).click();
    // The default gives the command a port: $PORT0 is set.
    assert.equal(await page.getByLabel('Host ports').inputValue(), '1');
    await page.getByLabel('Service ID').fill('/team/a/bad');
    await page.getByLabel('Command').fill('exec python3 -m http.server $PORT1');
    await page.getByLabel('CPUs').fill('-1');
    await dialog(page).getByRole('button', { name: 'Create service' }).click();
    await page.getByTestId('form-message').filter({ hasText: 'nothing was sent' }).waitFor();
    const cpuError = (await page.locator('[data-field="cpus"]').textContent()) ?? '';
    assert.match(cpuError, /^must be at least 0\.001$/, 'the reason in words, not schema text');
    // Fixed, the cross-field rule speaks: $PORT1 needs two host ports.
    await page.getByLabel('CPUs').fill('0.1');
    await dialog(page).getByRole('button', { name: 'Create service' }).click();
    await page.locator('[data-field="ports"]').filter({ hasText: 'needs at least 2: the command uses $PORT1' }).waitFor();
    // A health check probes a host port: with none, it says so rather than failing every launch.
    await page.getByLabel('Command').fill('sleep 100');
    await page.getByLabel('Host ports').fill('0');
    await page.getByLabel('HTTP health check path').fill('/');
    await dialog(page).getByRole('button', { name: 'Create service' }).click();
    await page.locator('[data-field="healthPath"]').filter({ hasText: 'probes host port 1, but the service has 0' }).waitFor();
    // In the JSON editor: the field's name, its path and the reason; anyOf noise left out.
    await page.getByRole('tab', { name: 'JSON' }).click();
    await page.getByLabel('App definition (Marathon JSON)').fill('{"id": "/team/a/bad", "cmd": "true", "env": {"A": 1}, "instances": 1.5}');
    await page.getByTestId('error-list').filter({ hasText: 'Instances (/instances) must be a whole number' }).waitFor();
    const list = (await page.getByTestId('error-list').textContent()) ?? '';
    assert.match(list, /Environment variable A \(\/env\/A\) must be text or a set of fields/);
    assert.doesNotMatch(list, /anyOf/);
    await screenshot(page, 'form-readable-errors');
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await api('GET', '/v2/apps/team/a/bad')).status, 404, 'nothing was created');
  });

  test('an app from the form with its defaults (and a health check path) reaches running and healthy', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services`);
    await page.getByRole('button', { name: 'Create service' }).click();
    await page.getByLabel('Service ID').fill('/team/a/web');
    await page.getByLabel('Command').fill('exec python3 -m http.server $PORT0');
    await page.getByLabel('Memory (MiB)').fill('64');
    await page.getByLabel('HTTP health check path').fill('/');
    await screenshot(page, 'form-defaults');
    await dialog(page).getByRole('button', { name: 'Create service' }).click();
    await page.waitForURL(/\/services\/team\/a\/web$/);
    await page.getByTestId('instances-summary').filter({ hasText: '1 of 1 running' }).waitFor(SLOW);
    // The check answers on $PORT0: healthy, not killed.
    await eventually(async () => (await api<{ app: { tasksHealthy: number } }>('GET', '/v2/apps/team/a/web')).body.app.tasksHealthy === 1, 'healthy', 180_000);
    await page.getByTestId('app-status').filter({ hasText: 'Running' }).waitFor(SLOW);
    await screenshot(page, 'form-defaults-running');
  });

  test('edit a service from the form, then from JSON', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services/team/a/web`);
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await dialog(page).getByRole('heading', { name: 'Edit /team/a/web' }).waitFor();
    assert.equal(await dialog(page).getByLabel('Service ID').inputValue(), '/team/a/web');
    assert.equal(await dialog(page).getByLabel('Service ID').getAttribute('readonly'), '');
    // The form starts from the app: its command and health check path are there.
    assert.equal(await dialog(page).getByLabel('Command').inputValue(), 'exec python3 -m http.server $PORT0');
    assert.equal(await dialog(page).getByLabel('HTTP health check path').inputValue(), '/');
    await dialog(page).getByLabel('Instances').fill('2');
    await dialog(page).getByRole('button', { name: 'Save changes' }).click();
    await page.getByTestId('instances-summary').filter({ hasText: '2 of 2 running' }).waitFor(SLOW);
    await page.getByTestId('app-status').filter({ hasText: 'Running' }).waitFor(SLOW);

    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByRole('tab', { name: 'JSON' }).click();
    const editor = dialog(page).getByLabel('App definition (Marathon JSON)');
    const definition = JSON.parse(await editor.inputValue()) as Record<string, unknown>;
    assert.equal(definition['instances'], 2);
    assert.equal(definition['version'], undefined, 'what the API reports only is left out');
    await editor.fill(JSON.stringify({ ...definition, env: { COLOR: 'blue' } }, null, 2));
    await dialog(page).getByRole('button', { name: 'Save changes' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    const app = await eventually(
      async () => {
        const { body } = await api<{ app: { env: Record<string, string>; healthChecks: Array<{ path: string }>; instances: number } }>('GET', '/v2/apps/team/a/web');
        return body.app.env['COLOR'] === 'blue' ? body.app : undefined;
      },
      'the JSON edit saved',
      60_000,
    );
    assert.equal(app.instances, 2);
    assert.equal(app.healthChecks[0]?.path, '/', 'the rest of the definition kept');
  });

  test('services under /team show as a group tree; picking a group narrows the list', TEST, async () => {
    const { page } = browser;
    assert.equal((await api('POST', '/v2/apps', { id: '/team/b/api', cmd: 'sleep 1000', cpus: 0.1, mem: 16, instances: 0 })).status, 201);
    await page.goto(`${dev.url}/services`);
    const tree = page.getByRole('navigation', { name: 'Groups' });
    await tree.getByRole('button', { name: /^team\// }).waitFor();
    await tree.getByRole('button', { name: /^b\// }).waitFor();
    await tree.getByRole('button', { name: /^a\// }).click();
    await page.waitForURL(/group=%2Fteam%2Fa$/);
    await page.getByRole('heading', { name: 'Services in /team/a' }).waitFor();
    await page.locator('[data-key="/team/b/api"]').waitFor({ state: 'detached' });
    await page.locator('[data-key="/team/a/web"]').waitFor();
    await screenshot(page, 'services-group-tree');
  });
});

describe('layout and theme', () => {
  test('at 800 px wide every page fits: the navigation is a bar on top, nothing scrolls sideways', TEST, async () => {
    const page = await browser.context.newPage();
    try {
      await page.setViewportSize({ width: 800, height: 900 });
      const agent = (await api<{ slaves: Array<{ id: string }> }>('GET', '/master/state')).body.slaves[0]!;
      for (const [name, path] of [
        ['overview', '/'],
        ['services', '/services'],
        ['service', '/services/team/a/web'],
        ['node', `/nodes/${agent.id}`],
        ['tasks', '/tasks'],
        ['jobs', '/jobs'],
      ] as const) {
        await page.goto(`${dev.url}${path}`);
        await page.getByRole('heading', { level: 1 }).first().waitFor();
        const nav = await page.getByRole('navigation', { name: 'Main' }).boundingBox();
        const main = await page.locator('main').boundingBox();
        assert.ok(nav !== null && main !== null);
        assert.ok(main.y >= nav.y + nav.height - 1, `${name}: the navigation sits above the page`);
        assert.ok(main.width > 700, `${name}: the page takes the width (${main.width})`);
        const overflow = await page.evaluate(() => {
          const el = (globalThis as unknown as { document: { querySelector(s: string): { scrollWidth: number; clientWidth: number } } }).document.querySelector('main');
          return el.scrollWidth - el.clientWidth;
        });
        assert.ok(overflow <= 1, `${name}: ${overflow} px wider than the window`);
        await screenshot(page, `narrow-${name}`);
      }
    } finally {
      await page.close();
    }
  });

  test('a dark theme, remembered, with charts in its palette', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services/team/a/web`);
    await page.getByRole('button', { name: 'Use the dark theme' }).click();
    // The page's own background (<html>, the theme's --bg); transparent would read as rgba(0, 0, 0, 0).
    const background = async (): Promise<number[]> => {
      const css = await page.evaluate(() => {
        const g = globalThis as unknown as { document: { documentElement: unknown }; getComputedStyle(e: unknown): { backgroundColor: string } };
        return g.getComputedStyle(g.document.documentElement).backgroundColor;
      });
      assert.match(css, /^rgb\(/, `an opaque colour: ${css}`);
      return css.match(/\d+/g)!.slice(0, 3).map(Number);
    };
    // Dark now.
    assert.ok(
      (await background()).every((c) => c < 60),
      `dark background: ${await background()}`,
    );
    await page.getByTestId('app-cpu-chart').waitFor(SLOW);
    await page.reload();
    await page.getByRole('button', { name: 'Use the light theme' }).waitFor();
    assert.ok(
      (await background()).every((c) => c < 60),
      'remembered after a reload',
    );
    await screenshot(page, 'dark-service');
    await page.goto(`${dev.url}/`);
    await page.getByTestId('cluster-cpu-chart').waitFor(SLOW);
    await screenshot(page, 'dark-overview');
    await page.getByRole('button', { name: 'Use the light theme' }).click();
    assert.ok(
      (await background()).every((c) => c > 200),
      'back to light',
    );
  });
});
