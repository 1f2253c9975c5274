import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../log/index.ts';
import { AgentHealth } from './agent-health.ts';
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
