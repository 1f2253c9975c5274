/**
 * Usage as pictures, end to end: a real `drover dev` whose agent samples its tasks' cgroups every
 * second (`--usage-interval 1secs`) and pushes them to the master; a real task burning CPU and
 * holding 64 MB. Its figures rise on the agent (`/monitor/statistics`, Prometheus on `/metrics`)
 * and on the master (`/master/usage`), and the UI draws them (uPlot canvases) on the service,
 * node and overview pages. Screenshots go to test-results/ui/.
 *
 * No timing assertions: every wait is `eventually` or Playwright's auto-waiting.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, type DroverProcess } from '../devkit/process.ts';
import type { Page } from 'playwright-core';
import { screenshot, type Browser } from './support/browser.ts';
import { startUiCluster, type UiCluster } from './support/ui-cluster.ts';

const TEST = { timeout: 240_000 };
let ui: UiCluster;
let dev: DroverProcess;
let agentUrl: string;
let browser: Browser;

async function api<T>(method: string, path: string, body?: unknown, base = dev.url): Promise<{ status: number; body: T; text: string }> {
  const response = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed as T, text };
}

interface TaskUsage {
  id: string;
  app_id: string;
  live: boolean;
  cpus: number | null;
  mem: number | null;
  statistics: { cpus_user_time_secs?: number; cpus_system_time_secs?: number; mem_total_bytes?: number };
  series?: { t: number[]; cpus: Array<number | null>; mem: Array<number | null> };
}
interface UsageAnswer {
  interval_ms: number;
  cluster: { t: number[]; cpus_total: number[]; cpus_allocated: number[] };
  agents: Array<{ id: string; hostname: string | null; series: { t: number[] } }>;
  apps: Array<{ id: string; series: { t: number[]; cpus: number[]; mem: number[] } }>;
  tasks: TaskUsage[];
}

// 64 MB held (written, so resident), then a busy loop, capped by a CFS quota at a quarter of a
// core (--cgroups-enable-cfs): the machine running the tests is shared.
const BURN = `perl -e '$x = "a" x (64 * 1024 * 1024); $i = 0; while (1) { $i++ }'`;
const MB = 1024 * 1024;

before(async () => {
  ui = await startUiCluster('ui-usage', ['--no-lb', '--usage-interval', '1secs', '--cgroups-enable-cfs', '--resources', 'cpus:4;mem:4096;disk:2000;ports:[22900-22950]'], async (started) => {
    dev = started;
    dev.child.once('exit', (code, signal) => console.error(`drover dev exited early (${code ?? signal}):\n${dev.output().slice(-4000)}`));
    // mem 256: building the 64 MB string briefly needs twice that.
    const created = await api('POST', '/v2/apps', { id: '/usage/burn', cmd: BURN, cpus: 0.25, mem: 256, instances: 1 });
    assert.equal(created.status, 201, created.text);
    const state = await api<{ slaves: Array<{ pid: string }> }>('GET', '/master/state');
    // Mesos' pid: slave(1)@host:port.
    agentUrl = `http://${state.body.slaves[0]!.pid.split('@')[1]}`;
  });
  ({ browser } = ui);
});

after(() => ui?.close());

describe('resource usage of a real task', () => {
  test('the agent measures the burning task: CPU seconds rise, 64 MB held, Mesos shape and Prometheus series', TEST, async () => {
    type Entry = {
      task_id: string;
      executor_id: string;
      framework_id: string;
      statistics: { timestamp: number; cpus_user_time_secs: number; cpus_system_time_secs: number; mem_total_bytes: number; mem_rss_bytes: number; mem_limit_bytes: number; cpus_limit: number };
    };
    const first = await eventually(
      async () => {
        const { status, body } = await api<Entry[]>('GET', '/monitor/statistics', undefined, agentUrl);
        return status === 200 && body.length === 1 && body[0]!.statistics.mem_total_bytes > 60 * MB ? body[0]! : undefined;
      },
      'the task holds its 64 MB',
      90_000,
    );
    assert.match(first.task_id, /^usage_burn\.instance-/);
    assert.equal(first.executor_id, first.task_id);
    assert.equal(first.statistics.cpus_limit, 0.25);
    // The task's cgroup limit is its mem: 256 MB.
    assert.equal(first.statistics.mem_limit_bytes, 256 * MB);
    assert.ok(first.statistics.mem_rss_bytes > 60 * MB, `rss ${first.statistics.mem_rss_bytes}`);
    const cpu = (e: Entry): number => e.statistics.cpus_user_time_secs + e.statistics.cpus_system_time_secs;
    // Cumulative CPU time goes on rising while it spins (sampled again at the next pass).
    await eventually(
      async () => {
        const now = (await api<Entry[]>('GET', '/monitor/statistics', undefined, agentUrl)).body[0];
        return now !== undefined && now.statistics.timestamp > first.statistics.timestamp && cpu(now) > cpu(first) ? true : undefined;
      },
      'CPU seconds rose',
      60_000,
    );
    const metrics = await api<unknown>('GET', '/metrics', undefined, agentUrl);
    assert.equal(metrics.status, 200);
    const line = metrics.text.split('\n').find((l) => l.startsWith('drover_task_memory_bytes{') && l.includes(first.task_id));
    assert.ok(line !== undefined && Number(line.split(' ').at(-1)) > 60 * MB, line);
    assert.match(metrics.text, /^# TYPE drover_task_cpu_user_seconds_total counter$/m);
  });

  test('the master aggregates it per task, app, agent and cluster', TEST, async () => {
    const usage = await eventually(
      async () => {
        const { body } = await api<UsageAnswer>('GET', '/master/usage?app=/usage');
        const task = body.tasks.find((t) => t.live);
        // A busy loop capped at 0.25 cores: above 0.05 (no upper bound asserted: the machine is shared).
        return task !== undefined && (task.cpus ?? 0) > 0.05 && (task.mem ?? 0) > 60 * MB && body.apps.some((a) => a.id === '/usage/burn' && a.series.cpus.some((c) => c > 0.05)) ? body : undefined;
      },
      'usage of /usage/burn on the master',
      90_000,
    );
    const task = usage.tasks[0]!;
    assert.equal(task.app_id, '/usage/burn');
    assert.ok(task.series !== undefined && task.series.t.length >= 2);
    assert.equal(usage.agents.length, 1);
    assert.notEqual(usage.agents[0]!.hostname, null);
    // Allocation against capacity: 4 cpus offered, the task's 0.25 allocated.
    assert.equal(usage.cluster.cpus_total.at(-1), 4);
    assert.ok((usage.cluster.cpus_allocated.at(-1) ?? 0) >= 0.25);
    // Bad input: a 400 naming the parameter; an operator's token cannot pose as an agent.
    const bad = await api<{ details?: Array<{ path: string }> }>('GET', `/master/usage?app=${'x'.repeat(600)}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.details?.[0]?.path, '/app');
    const forged = await api('POST', '/api/v1/agent/usage', { agent_id: { value: usage.agents[0]!.id }, statistics: [] });
    assert.equal(forged.status, 403, forged.text);
  });
});

/** The chart's latest figure (its data-latest) once it is above `min`, and proof its canvas has ink. */
async function chartShows(page: Page, testId: string, min: number): Promise<number> {
  const chart = page.getByTestId(testId);
  await chart.waitFor();
  const value = await eventually(
    async () => {
      const latest = Number((await chart.getAttribute('data-latest')) || 'NaN');
      return latest > min ? latest : undefined;
    },
    `${testId} above ${min}`,
    90_000,
  );
  // uPlot draws on a canvas: some of its pixels are not blank.
  // Runs in the page: typed structurally (the test's tsconfig has no DOM library).
  type Canvas = { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
  const inked = await chart.locator('canvas').evaluate((element) => {
    const canvas = element as unknown as Canvas;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
    return n;
  });
  assert.ok(inked > 100, `${testId}: ${inked} pixels drawn`);
  return value;
}

describe('usage graphs in the UI', () => {
  test('the service page charts the burning task: CPU and memory of the app, a sparkline per task', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/services/usage/burn`);
    const cpu = await chartShows(page, 'app-cpu-chart', 0.05);
    const mem = await chartShows(page, 'app-mem-chart', 60 * MB);
    // The caption says the same number in words.
    assert.match((await page.getByTestId('app-mem-chart').locator('figcaption').textContent()) ?? '', /\d+(\.\d)? MiB/);
    await page.getByTestId('task-usage').first().waitFor();
    assert.ok(cpu > 0.05 && mem > 60 * MB);
    await screenshot(page, 'usage-service');
  });

  test('a node page: hostname, resources, attributes, its tasks, usage charts; Drain asks first', TEST, async () => {
    const { page } = browser;
    const agent = (await api<{ slaves: Array<{ id: string; hostname: string }> }>('GET', '/master/state')).body.slaves[0]!;
    await page.goto(`${dev.url}/nodes`);
    // The list names nodes by hostname and links each to its page.
    await page.getByRole('link', { name: agent.hostname, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: agent.hostname }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/nodes/${agent.id}`);
    await chartShows(page, 'node-cpu-chart', 0.05);
    await chartShows(page, 'node-mem-chart', 60 * MB);
    await page
      .getByRole('region', { name: 'Tasks on this node' })
      .getByRole('link', { name: /usage_burn|burn/ })
      .first()
      .waitFor();
    await page.getByRole('region', { name: 'Resources' }).getByText('CPU').first().waitFor();
    await screenshot(page, 'node-detail');
    // Drain is destructive: a dialog says what it does, and Cancel leaves the node as it was.
    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Drain ${agent.hostname}?` });
    await dialog.getByText('its 1 running task(s) are killed').waitFor();
    await screenshot(page, 'node-drain-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    const after = await api<{ slaves: Array<{ id: string; drain_info?: unknown; deactivated?: boolean }> }>('GET', '/master/state');
    assert.equal(after.body.slaves[0]!.drain_info, undefined, 'not drained');
  });

  test('the overview charts allocation against capacity over time', TEST, async () => {
    const { page } = browser;
    await page.goto(`${dev.url}/`);
    // The first line is "allocated": the burning task's 0.25 cpus at least.
    const allocated = await chartShows(page, 'cluster-cpu-chart', 0.2);
    assert.ok(allocated >= 0.25);
    await chartShows(page, 'cluster-mem-chart', 100 * MB);
    await screenshot(page, 'usage-overview');
  });
});
