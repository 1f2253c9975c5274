import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../log/index.ts';
import { AgentHealth, type AgentRemovalStatus } from './agent-health.ts';
import type { AgentRecord } from './model.ts';

test('an agent recovered from the registry has the re-registration window, not the heartbeat window', () => {
  const agent = (id: string, status: AgentRecord['status']): AgentRecord => ({ id, status, lastSeen: 0 }) as AgentRecord;
  const agents = new Map([
    ['live', agent('live', 'active')],
    ['recovered', agent('recovered', 'recovering')],
  ]);
  const marked: string[] = [];
  const health = new AgentHealth(
    {
      agents,
      log: silentLogger(),
      markUnreachable: (a) => {
        marked.push(a.id);
        a.status = 'unreachable';
      },
      heldCount: () => undefined,
    },
    // 1 s heartbeats × 5 = a 5 s window; 75 s to re-register after a restart or leader change.
    { heartbeatIntervalMs: 1000, maxMissedHeartbeats: 5, guardFraction: 1, rate: undefined, reregisterWindowMs: 75_000 },
  );
  health.check(6000);
  assert.deepEqual(marked, ['live'], 'the active agent is silent past 5 s; the recovered one is not yet');
  health.check(76_000);
  assert.deepEqual(marked, ['live', 'recovered'], 'past 75 s the recovered agent counts as silent too');
});

test('the hold is visible: status() counts held and unreachable agents, says why, and every change of the held set is told once', () => {
  const agent = (id: string): AgentRecord => ({ id, hostname: `host-${id}`, status: 'active', lastSeen: 0 }) as AgentRecord;
  const agents = new Map(['a', 'b', 'c', 'd', 'e'].map((id) => [id, agent(id)]));
  const told: AgentRemovalStatus[] = [];
  const health = new AgentHealth(
    {
      agents,
      log: silentLogger(),
      markUnreachable: (a) => {
        a.status = 'unreachable';
      },
      heldCount: () => undefined,
      heldChanged: (s) => told.push(s),
    },
    // 1 s × 5 = a 5 s window; at most 40 % of the five agents (2) marked within it.
    { heartbeatIntervalMs: 1000, maxMissedHeartbeats: 5, guardFraction: 0.4, rate: undefined, reregisterWindowMs: 75_000 },
  );
  assert.equal(health.status(0).held, 0);
  // a, b, c go silent (a partition of three of five); d and e keep heartbeating.
  agents.get('d')!.lastSeen = 6000;
  agents.get('e')!.lastSeen = 6000;
  health.check(6000);
  const s = health.status(6000);
  assert.equal(s.unreachable, 2, 'two marked: the cap');
  assert.equal(s.held, 1, 'the third held');
  assert.equal(s.reason, 'mass-unreachable');
  assert.equal(s.windowCap, 2);
  assert.equal(s.markedInWindow, 2);
  assert.equal(s.heldSince, 6000);
  assert.equal(s.retryAt, 11_000, 'when the first markings leave the window');
  assert.deepEqual(s.heldAgents, [{ id: 'c', hostname: 'host-c', since: 6000 }]);
  assert.equal(told.length, 1);
  assert.equal(told[0]!.held, 1);
  // Nothing changes within the window: nothing told.
  agents.get('d')!.lastSeen = 7000;
  agents.get('e')!.lastSeen = 7000;
  health.check(7000);
  assert.equal(told.length, 1);
  // The held agent comes back (re-registration clears its hold): no longer counted at once, and
  // the next check tells the release.
  const c = agents.get('c')!;
  c.lastSeen = 8000;
  delete c.removalHeldSince;
  assert.equal(health.status(8000).held, 0);
  assert.equal(health.status(8000).reason, undefined);
  health.check(8000);
  assert.equal(told.length, 2);
  assert.equal(told[1]!.held, 0);
  assert.equal(told[1]!.unreachable, 2);
});
