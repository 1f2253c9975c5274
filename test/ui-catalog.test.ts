/**
 * The catalog page in Debian's Chromium against a real `drover dev`: the package list, a form
 * generated from hello-framework's options schema, a value the schema refuses shown at its field
 * before anything is sent, then an install from the form that starts a framework launching its
 * own task. Every wait is Playwright's auto-waiting or eventually() with generous timeouts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_ADMIN_TOKEN } from '../devkit/credentials.ts';
import { type DroverProcess, eventually } from '../devkit/process.ts';
import { type Browser, screenshot } from './support/browser.ts';
import { startUiCluster, type UiCluster } from './support/ui-cluster.ts';

let ui: UiCluster;
let dev: DroverProcess;
let browser: Browser;
const portBase = 40000 + (process.pid % 150) * 40;

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${dev.url}${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

before(async () => {
  ui = await startUiCluster('ui-catalog', ['--resources', `cpus:4;mem:4096;disk:2000;ports:[${portBase}-${portBase + 39}]`]);
  ({ dev, browser } = ui);
});

after(() => ui?.close());

test('install hello-framework from the catalog form: a refused value is shown at its field first', { timeout: 300_000 }, async () => {
  const secret = await api('PUT', '/secrets/v1/secret/default/ui/token', { value: TEST_ADMIN_TOKEN });
  assert.ok(secret.status < 300, JSON.stringify(secret.body));
  const { page } = browser;
  await page.goto(`${dev.url}/catalog`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog', exact: true }).waitFor();
  for (const name of ['nginx', 'redis', 'marathon-lb', 'hello-framework']) await page.getByRole('link', { name: new RegExp(`^${name}`) }).waitFor();
  await screenshot(page, 'catalog');
  await page.getByRole('link', { name: /^hello-framework/ }).click();
  await page.getByRole('heading', { name: 'hello-framework 1.0.0' }).waitFor();
  // The form holds the schema's defaults.
  assert.equal(await page.locator('[id="opt-/framework/tasks"]').inputValue(), '2');
  assert.match((await page.getByTestId('pre-install-notes').textContent()) ?? '', /token/);
  await page.locator('[id="opt-/framework/master"]').fill(dev.url);
  await page.locator('[id="opt-/framework/token-secret"]').fill('ui/token');
  await page.locator('[id="opt-/framework/tasks"]').fill('500');
  await page.getByRole('button', { name: 'Install hello-framework' }).click();
  await page.getByRole('alert').filter({ hasText: '/framework/tasks' }).waitFor();
  assert.match((await page.getByRole('alert').filter({ hasText: '/framework/tasks' }).textContent()) ?? '', /must be <= 100/);
  assert.deepEqual((await api<{ apps: unknown[] }>('GET', '/v2/apps')).body.apps, [], 'nothing was sent');
  await page.locator('[id="opt-/framework/tasks"]').fill('1');
  await page.getByRole('button', { name: 'Install hello-framework' }).click();
  await page.getByTestId('installed').waitFor({ timeout: 60_000 });
  assert.match((await page.getByTestId('installed').textContent()) ?? '', /Installed as \/hello-framework/);
  await screenshot(page, 'catalog-installed');
  // Only the changed options were sent (what Cosmos keeps in DCOS_PACKAGE_OPTIONS).
  const app = (await api<{ app: { labels: Record<string, string> } }>('GET', '/v2/apps/hello-framework')).body.app;
  assert.deepEqual(JSON.parse(Buffer.from(app.labels['DCOS_PACKAGE_OPTIONS'] ?? '', 'base64').toString()), { framework: { master: dev.url, 'token-secret': 'ui/token', tasks: 1 } });
  type State = { frameworks: Array<{ name: string; tasks: Array<{ state: string }> }> };
  await eventually(
    async () => (await api<State>('GET', '/master/state')).body.frameworks.some((f) => f.name === 'hello-framework' && f.tasks.some((t) => t.state === 'TASK_RUNNING')),
    'hello-framework runs its task',
    120_000,
  );
  const gone = await api('POST', '/package/uninstall', { packageName: 'hello-framework' });
  assert.equal(gone.status, 200, JSON.stringify(gone.body));
});
