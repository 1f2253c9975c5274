/**
 * The web UI end to end: a real `drover dev` serving the built UI, driven in Debian's Chromium.
 * An operator creates a service from the form (after the server refused a bad id, shown at the
 * field), sees it reach running, scales it, follows its log live, browses its sandbox, runs a
 * job and sees its history; the UI reconnects by itself after the master restarts; 10,000 tasks
 * and 1,000 agents render through the windowed lists. A screenshot of each page is written to
 * test-results/ui/ and its path printed.
 *
 * No timing assertions: every wait is Playwright's auto-waiting with generous timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DroverProcess } from '../devkit/process.ts';
import type { Page } from 'playwright-core';
import { screenshot, type Browser } from './support/browser.ts';
import { startUiCluster, type UiCluster } from './support/ui-cluster.ts';

/** For one wait on the cluster (a launch, a scale); a whole test may take several. */
const SLOW = { timeout: 60_000 };
/** For a whole test: CI runs four test files at once on two cores. */
const TEST = { timeout: 240_000 };
let ui: UiCluster;
let root: string;
let dev: DroverProcess;
let browser: Browser;

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${dev.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Follow a link of the side navigation (other links on a page may share its name). */
const nav = (page: Page, name: string): Promise<void> => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

before(async () => {
  ui = await startUiCluster('ui', ['--resources', 'cpus:4;mem:4096;disk:2000;ports:[22700-22800]']);
  ({ root, dev, browser } = ui);
});

after(() => ui?.close());

describe('web UI', () => {
  test('serves the app with content types, caching and the SPA fallback; API misses stay JSON', async () => {
    const index = await fetch(`${dev.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'index.html loads a hashed script');
    const js = await fetch(`${dev.url}${asset}`);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const route = await fetch(`${dev.url}/services/prod/web`, { headers: { accept: 'text/html' } });
    assert.equal(route.status, 200);
    assert.equal(await route.text(), html, 'a client route gets index.html');
    const miss = await fetch(`${dev.url}/v2/no-such-thing`, { headers: { accept: 'text/html' } });
    assert.equal(miss.status, 404);
    assert.match(miss.headers.get('content-type') ?? '', /json/);
    assert.equal((await fetch(`${dev.url}/assets/missing-123.js`)).status, 404);
    assert.equal((await fetch(`${dev.url}/unknown-page`)).status, 404, 'tools (accept */*) get a 404, not the app');
  });

  test("the master relays an agent's files API, and only that", async () => {
    const agentId = (await api<{ slaves: Array<{ id: string }> }>('GET', '/master/state')).body.slaves[0]!.id;
    const listing = await api<Array<{ path: string }>>('GET', `/agent/${agentId}/files/browse?path=${encodeURIComponent(root)}`);
    // The work dir is under --data-dir: the agent answers (403 outside, 200/404 inside), proving the relay reached it.
    assert.ok([200, 403, 404].includes(listing.status), `relayed: ${listing.status}`);
    assert.equal((await api('GET', `/agent/${agentId}/files/debug`)).status, 404, 'only browse, read, download and follow');
    assert.equal((await api('GET', '/agent/no-such-agent/files/browse?path=/')).status, 404);
    const refused = await api<{ code: string }>('GET', `/agent/${agentId}/files/read?path=/etc/passwd&offset=0`);
    assert.equal(refused.status, 403, 'the agent still confines paths to its work dir');
  });

  test('create a service from the form, see it run, scale it, follow its log, browse its sandbox', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await page.getByTestId('agents-active').filter({ hasText: '1' }).waitFor();

    await nav(page, 'Services');
    await page.getByRole('button', { name: 'Create service' }).click();
    // The JSON editor is checked with the API's schema as one types; the form takes over its values.
    await page.getByRole('tab', { name: 'JSON' }).click();
    await page.getByLabel('App definition (Marathon JSON)').fill('{"id": "/x", "cmd": "true", "cpus": -1}');
    await page.getByTestId('error-list').filter({ hasText: '/cpus' }).waitFor();
    await page.getByRole('tab', { name: 'Form' }).click();
    assert.equal(await page.getByLabel('CPUs').inputValue(), '-1');
    // Prints a line at start, then whatever the test drops into its sandbox as the file `say`.
    await page.getByLabel('Command').fill('echo started; while :; do if [ -f say ]; then cat say; rm -f say; fi; sleep 0.2; done');
    await page.getByLabel('CPUs').fill('0.1');
    await page.getByLabel('Memory (MiB)').fill('32');
    await page.getByLabel('Host ports').fill('1');
    // An id the schema accepts as a string but the server refuses: its 422 detail lands at the field.
    await page.getByLabel('Service ID').fill('/UI_Web');
    await page.getByRole('dialog').getByRole('button', { name: 'Create service' }).click();
    await page.getByTestId('form-message').filter({ hasText: '422' }).waitFor();
    const idError = await page.locator('[data-field="id"]').textContent();
    assert.match(idError ?? '', /not a valid path segment/);
    await screenshot(page, '02-create-service-422');

    await page.getByLabel('Service ID').fill('/ui/web');
    await page.getByRole('dialog').getByRole('button', { name: 'Create service' }).click();
    await page.waitForURL(/\/services\/ui\/web$/);
    await page.getByTestId('instances-summary').filter({ hasText: '1 of 1 running' }).waitFor(SLOW);

    await page.getByRole('button', { name: 'Scale' }).click();
    await page.getByRole('dialog').getByLabel('Instances').fill('2');
    await page.getByRole('button', { name: 'Scale service' }).click();
    // No reload: the event stream brings the second instance in.
    await page.getByTestId('instances-summary').filter({ hasText: '2 of 2 running' }).waitFor(SLOW);
    await page.getByRole('table', { name: 'Instances' }).getByText('running').nth(1).waitFor();
    await screenshot(page, '03-service-detail');

    await nav(page, 'Services');
    await page.locator('[data-key="/ui/web"]').getByTestId('running').filter({ hasText: '2 / 2' }).waitFor();
    await screenshot(page, '04-services');

    // Client-side navigation keeps the page (and its event feed): the overview lists what happened.
    await nav(page, 'Overview');
    await page.getByRole('table', { name: 'Recent events' }).getByText('status_update_event').first().waitFor();
    await screenshot(page, '01-overview');

    await page.goto(`${dev.url}/services/ui/web`);
    await page.getByRole('link', { name: 'Logs & files' }).first().click();
    await page.waitForURL(/\/tasks\?task=/);
    const taskId = new URL(page.url()).searchParams.get('task')!;
    await page.getByTestId('log-status').filter({ hasText: 'Following' }).waitFor();
    await page.getByTestId('log-text').filter({ hasText: 'started' }).waitFor();
    // The follow has begun; now the task prints a line it could not have printed before.
    const directory = (await api<{ tasks: Array<{ directory?: string }> }>('GET', `/master/tasks?task_id=${encodeURIComponent(taskId)}`)).body.tasks[0]?.directory;
    assert.ok(directory, 'the task has a sandbox');
    const token = `printed-after-follow-${Date.now().toString(36)}`;
    await writeFile(join(directory, 'say'), `${token}\n`);
    await page
      .getByTestId('log-text')
      .filter({ hasText: token })
      .waitFor(SLOW)
      .catch(async (e: unknown) => {
        await screenshot(page, 'failed-log-follow');
        const shown = await page.getByTestId('log-text').textContent();
        const written = await readFile(join(directory, 'stdout'), 'utf8').catch((x: unknown) => String(x));
        throw new Error(
          `the followed log never showed ${token}; it shows ${JSON.stringify(shown)}; stdout has ${JSON.stringify(written)}; status ${await page.getByTestId('log-status').textContent()}`,
          { cause: e },
        );
      });
    await screenshot(page, '05-tasks-log');

    await page.getByRole('tab', { name: 'Files' }).click();
    await page.getByRole('table', { name: 'Sandbox files' }).getByRole('button', { name: 'stdout' }).click();
    await page.locator('.file-view').filter({ hasText: token }).waitFor();
    await screenshot(page, '06-tasks-files');

    await nav(page, 'Nodes');
    const drain = page.getByRole('button', { name: /^Drain / }).first();
    await drain.waitFor();
    assert.equal(await drain.isDisabled(), false, 'an active node can be drained');
    assert.equal(
      await page
        .getByRole('button', { name: /^Reactivate / })
        .first()
        .isDisabled(),
      true,
      'only a deactivated node can be reactivated',
    );
    await screenshot(page, '07-nodes');

    // Restart makes a new version and replaces the instances; destroy asks for the id first.
    await page.goto(`${dev.url}/services/ui/web`);
    await page.getByRole('table', { name: 'Versions' }).getByRole('row').nth(1).waitFor();
    const versionsBefore = await page.getByRole('table', { name: 'Versions' }).getByRole('row').count();
    await page.getByRole('button', { name: 'Restart' }).click();
    // Restart replaces every instance: it asks first.
    await page.getByRole('dialog', { name: 'Restart /ui/web?' }).getByRole('button', { name: 'Restart' }).click();
    await page.getByRole('table', { name: 'Versions' }).getByRole('row').nth(versionsBefore).waitFor(SLOW);
    await page.getByTestId('instances-summary').filter({ hasText: '2 of 2 running' }).waitFor(SLOW);
    // Until the restart's deployment is done, a destroy would be refused (409, app locked).
    await page.getByTestId('app-status').filter({ hasText: 'Running' }).waitFor(SLOW);
    await page.getByRole('button', { name: 'Destroy' }).click();
    const confirm = page.getByRole('button', { name: 'Destroy service' });
    assert.equal(await confirm.isDisabled(), true, 'not before the id is typed');
    await page.getByLabel('Service ID').fill('/ui/web');
    await confirm.click();
    // The delete is a store write and a deployment: on a loaded machine it took over 30 s once.
    await page.waitForURL(/\/services$/, SLOW);
    await page.locator('[data-key="/ui/web"]').waitFor({ state: 'detached', timeout: 60_000 });

    // Maintenance from the Nodes page: drain the node (DRAIN_AGENT), see it drained, reactivate.
    await nav(page, 'Nodes');
    const nodes = page.getByRole('table', { name: 'Nodes' });
    await page
      .getByRole('button', { name: /^Drain / })
      .first()
      .click();
    // Draining kills the node's tasks: it asks first.
    await page
      .getByRole('dialog', { name: /^Drain / })
      .getByRole('button', { name: 'Drain' })
      .click();
    await nodes.getByText('drained', { exact: true }).waitFor(SLOW);
    await screenshot(page, '07b-nodes-drained');
    await page
      .getByRole('button', { name: /^Reactivate / })
      .first()
      .click();
    await nodes.getByText('active', { exact: true }).waitFor(SLOW);
  });

  test('run a job now and see its history', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/jobs`);
    // Created from the form, with a schedule.
    await page.getByRole('button', { name: 'Create job' }).click();
    await page.getByLabel('Job ID').fill('ui-report');
    await page.getByLabel('Description').fill('Nightly report');
    await page.getByLabel('Command').fill('echo report done');
    await page.getByLabel('Schedule (cron)').fill('0 3 * * *');
    await page.getByRole('dialog').getByRole('button', { name: 'Create job' }).click();
    await page.waitForURL(/\/jobs\/ui-report$/);
    await page.getByRole('complementary', { name: 'Job' }).getByText('0 3 * * *').waitFor();
    await page.getByRole('complementary', { name: 'Job' }).getByRole('button', { name: 'Run now' }).click();
    await page.getByRole('table', { name: 'Run history' }).getByText('SUCCESS').first().waitFor(SLOW);
    await page.locator('[data-key="ui-report"]').getByText('1 / 0').waitFor();
    await screenshot(page, '08-jobs');
    // A run links to its logs: the task's stdout on the Tasks page.
    await page.getByRole('table', { name: 'Run history' }).getByRole('link', { name: 'Logs' }).first().click();
    await page.waitForURL(/\/tasks\?task=/);
    await page.getByTestId('log-text').filter({ hasText: 'report done' }).waitFor(SLOW);
    await screenshot(page, '08b-job-run-logs');
  });

  test("a service's page shows its DNS names, VIPs and load balancer routes", TEST, async () => {
    const created = await api('POST', '/v2/apps', {
      id: '/ui/found',
      cmd: 'sleep 600',
      cpus: 0.01,
      mem: 16,
      instances: 0,
      portDefinitions: [{ port: 0, name: 'http', labels: { VIP_0: '/ui/found:80' } }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'found.example.com', HAPROXY_0_PATH: '/api' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const page = await browser.context.newPage();
    try {
      await page.goto(`${dev.url}/services/ui/found`);
      const panel = page.getByTestId('app-discovery');
      const dns = panel.getByRole('table', { name: 'DNS names' });
      await dns.getByText('found-ui.marathon.mesos', { exact: true }).waitFor(SLOW);
      await dns.getByText('_found-ui._tcp.marathon.mesos', { exact: true }).waitFor();
      await dns.getByText('_http._found-ui._tcp.marathon.mesos', { exact: true }).waitFor();
      await panel.getByRole('table', { name: 'VIPs' }).getByText('uifound.marathon.l4lb.thisdcos.directory:80', { exact: true }).waitFor();
      await panel
        .getByRole('table', { name: 'Load balancer routes' })
        .getByText(/^http:\/\/found\.example\.com\/api  ·  :\d+$/)
        .waitFor();
      console.log(`screenshot: ${await screenshot(page, 'service-discovery')}`);
    } finally {
      await page.close();
      await api('DELETE', '/v2/apps/ui/found?force=true');
    }
  });

  test('10,000 tasks and 1,000 agents render through windowed lists, filtered on the server', TEST, async () => {
    const page = await browser.context.newPage();
    try {
      const tasks = Array.from({ length: 10_000 }, (_, i) => ({
        id: `load_app-${i % 100}.instance-${String(i).padStart(5, '0')}._app.1`,
        name: `load-${i}`,
        framework_id: 'fw',
        slave_id: `agent-${i % 1000}`,
        state: 'TASK_RUNNING',
        resources: { cpus: 0.1, mem: 32, disk: 0 },
        statuses: [{ state: 'TASK_RUNNING', timestamp: Date.now() / 1000 }],
      }));
      const filters: string[] = [];
      await page.route(/\/master\/tasks\?/, async (route) => {
        const q = new URL(route.request().url()).searchParams;
        const filter = q.get('filter');
        if (filter) filters.push(filter);
        await route.fulfill({ json: { tasks: filter ? tasks.filter((t) => t.id.includes(filter)) : tasks } });
      });
      const agents = Array.from({ length: 1000 }, (_, i) => ({
        id: `agent-${i}`,
        hostname: `node-${String(i + 1).padStart(4, '0')}`,
        port: 5051,
        registered_time: Date.now() / 1000,
        active: true,
        resources: { cpus: 16, mem: 65536, disk: 500000, ports: '[31000-32000]' },
        used_resources: { cpus: (i % 16) + 0.5, mem: (i * 97) % 65536, disk: 0, ports: '[31000-31009]' },
        offered_resources: {},
        attributes: { rack: `r${i % 40}`, zone: `z${i % 3}` },
      }));
      await page.route(/\/master\/state\?limit=0/, (route) =>
        route.fulfill({ json: { id: 'm', hostname: 'm', start_time: Date.now() / 1000, activated_slaves: 1000, unreachable_slaves: 0, slaves: agents, frameworks: [] } }),
      );

      await page.goto(`${dev.url}/tasks`);
      const grid = page.getByRole('table', { name: 'Tasks' });
      await page.locator('[aria-label="Tasks"][aria-rowcount="10001"]').waitFor();
      const rendered = await grid.locator('.grid-row').count();
      assert.ok(rendered > 0 && rendered < 200, `only the rows in view are in the DOM (${rendered} of 10,000)`);
      await grid.locator('.vlist').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await grid.getByText('load_app-99.instance-09999._app.1').waitFor();
      await screenshot(page, '09-tasks-10000');
      await page.getByLabel('Filter tasks').fill('instance-04242');
      await page.locator('[aria-label="Tasks"][aria-rowcount="2"]').waitFor();
      assert.ok(filters.includes('instance-04242'), 'the filter went to the master');

      await page.goto(`${dev.url}/nodes`);
      const nodes = page.getByRole('table', { name: 'Nodes' });
      await page.locator('[aria-label="Nodes"][aria-rowcount="1001"]').waitFor();
      assert.ok((await nodes.locator('.grid-row').count()) < 200, 'only the agents in view are in the DOM');
      await nodes.locator('.vlist').evaluate((el) => (el.scrollTop = el.scrollHeight));
      await nodes.getByRole('link', { name: 'node-1000', exact: true }).waitFor();
      await screenshot(page, '10-nodes-1000');
    } finally {
      await page.close();
    }
  });

  test('falls back to polling when the event streams are unavailable', TEST, async () => {
    const page = await browser.context.newPage();
    try {
      // Both streams refused (a proxy that does not pass streams, say): the views still update.
      await page.route(/\/v2\/events/, (route) => route.abort());
      await page.route(/\/api\/v1$/, (route) => route.abort());
      await page.goto(`${dev.url}/services`);
      await page.getByTestId('connection').filter({ hasText: 'Reconnecting' }).waitFor();
      const created = await api('POST', '/v2/apps', { id: '/polled', cmd: 'sleep 300', cpus: 0.1, mem: 16, instances: 1 });
      assert.equal(created.status, 201);
      await page.locator('[data-key="/polled"]').getByTestId('running').filter({ hasText: '1 / 1' }).waitFor(SLOW);
      assert.match((await page.getByTestId('connection').textContent()) ?? '', /Reconnecting/, 'no stream was used');
    } finally {
      await page.close();
    }
  });

  test('reconnects by itself after the master restarts, and shows changes without a reload', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
    await dev.stop();
    await page.getByTestId('connection').filter({ hasText: 'Reconnecting' }).waitFor();
    dev = await ui.restartDev();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor(SLOW);
    const created = await api('POST', '/v2/apps', { id: '/after-restart', cmd: 'sleep 300', cpus: 0.1, mem: 16, instances: 1 });
    assert.equal(created.status, 201);
    await page.locator('[data-key="/after-restart"]').getByTestId('running').filter({ hasText: '1 / 1' }).waitFor(SLOW);
    await screenshot(page, '11-services-after-restart');
  });
});
