/**
 * The mass-loss banner end to end: a real `drover master` (its own process, serving the built UI
 * and the services framework's /v2/events) with five hollow agents from the simulator speaking
 * the real agent protocol; three of them are cut off at once. With a removal rate limit of one
 * agent per hour the master marks one unreachable and holds the other two — deterministically,
 * for as long as the test needs. Checked: `GET /master/agent-removal` and `drover_agent_removal`
 * in /master/state count them, /v2/events carries `agent_removal_held_event`, and Chromium shows
 * the banner on the page; when the agents come back the release event is sent and the banner
 * goes away by itself.
 *
 * No timing assertions: every wait is eventually()/Playwright's auto-wait with generous bounds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, readUntil, startDrover, type DroverProcess } from '../devkit/process.ts';
import { AgentFleet } from '../sim/agent-fleet.ts';
import { ensureWebBuilt, launchBrowser, screenshot, type Browser } from './support/browser.ts';

let master: DroverProcess;
let fleet: AgentFleet;
let browser: Browser;

interface Removal {
  held: number;
  unreachable: number;
  reason: string | null;
  rate_limit: string | null;
  held_agents: Array<{ hostname: string }>;
}

const removal = async (): Promise<Removal> => (await (await fetch(`${master.url}/master/agent-removal`)).json()) as Removal;

before(async () => {
  ensureWebBuilt();
  // Heartbeats every second, 3 missed = a 3 s detection window; one marking per hour at most.
  master = await startDrover(['master', '--port', '0', '--store', 'memory:', '--agent-heartbeat-interval', '1', '--max-missed-heartbeats', '3', '--agent-removal-rate-limit', '1/1hrs']);
  fleet = new AgentFleet({ masterUrl: master.url, first: 0, count: 5, resources: 'cpus:2;mem:1024;ports:[31000-31009]', behaviour: { runningAfterMs: 10 } });
  await fleet.start();
  await eventually(() => fleet.stats().registered === 5, 'five hollow agents registered', 60_000);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await fleet?.stop();
  await master?.stop();
});

test('agents held by the removal limits: counted in the API, announced on /v2/events, a banner in the UI until they come back', { timeout: 240_000 }, async () => {
  const { page } = browser;
  await page.goto(`${master.url}/`);
  await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor();
  assert.equal(await page.getByTestId('removal-banner').count(), 0, 'no banner while every agent heartbeats');

  // Follow /v2/events as a Marathon client would.
  const events = await fetch(`${master.url}/v2/events`, { headers: { accept: 'text/event-stream' } });
  const reader = events.body!.getReader();
  let sse = '';
  const readEvents = async (until: (text: string) => boolean): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!until(sse)) {
      const chunk = await readUntil(reader, deadline);
      if (chunk === 'timeout' || chunk.done) throw new Error(`/v2/events ended or timed out; got: ${sse.slice(-2000)}`);
      sse += new TextDecoder().decode(chunk.value);
    }
  };

  // Three of five cut off at once: the first is marked, the rate limit holds the other two.
  const lost = await fleet.partition(0.6);
  assert.equal(lost.agents, 3);
  const held = await eventually(
    async () => {
      const r = await removal();
      return r.held === 2 ? r : undefined;
    },
    'two agents held',
    60_000,
  );
  assert.equal(held.unreachable, 1);
  assert.equal(held.reason, 'rate-limit');
  assert.equal(held.rate_limit, '1/3600secs');
  assert.equal(held.held_agents.length, 2);
  const state = (await (await fetch(`${master.url}/master/state?limit=0`)).json()) as { drover_agent_removal: Removal };
  assert.equal(state.drover_agent_removal.held, 2, '/master/state carries it too');
  // One event per change of the held set: on a loaded machine the three may go silent in two
  // heartbeat windows, so the first event can say 1 held and a later one 2. Read up to that one.
  type HeldEvent = { held: number; reason: string; heldAgents: unknown[] };
  const heldEvents = (text: string): HeldEvent[] => [...text.matchAll(/event: agent_removal_held_event\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!) as HeldEvent);
  await readEvents((text) => heldEvents(text).some((e) => e.held === 2));
  const event = heldEvents(sse).find((e) => e.held === 2)!;
  assert.equal(event.held, 2);
  assert.equal(event.reason, 'rate-limit');
  assert.equal(event.heldAgents.length, 2);

  // The banner, on whatever page is open.
  const banner = page.getByTestId('removal-banner');
  // It may first show the one held before the second went silent: wait for the state above.
  await banner.filter({ hasText: '2 agents are unreachable' }).waitFor({ timeout: 60_000 });
  const text = (await banner.textContent()) ?? '';
  assert.match(text, /2 agents are unreachable and their removal is held/);
  assert.match(text, /1 more agent already marked unreachable/);
  assert.match(text, /rate limit \(1\/3600secs\)/);
  assert.match(text, /tasks are not replaced/);
  for (const a of held.held_agents) assert.ok(text.includes(a.hostname), `names ${a.hostname}`);
  await screenshot(page, 'removal-banner');

  // The network heals: every agent re-registers, nothing is held, and the banner goes away.
  fleet.heal();
  await eventually(async () => (await removal()).held === 0 && (await removal()).unreachable === 0, 'every agent back', 60_000);
  await readEvents((text) => text.includes('event: agent_removal_released_event'));
  await banner.waitFor({ state: 'detached', timeout: 60_000 });
  await reader.cancel();
});
