import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentArgsProblem } from './agent.ts';

type Args = Parameters<typeof agentArgsProblem>[0];
const base = { master: 'http://127.0.0.1:5050', port: 5051, 'user-namespace-range': '1000000:65536', 'vip-range': '11.0.0.0/8', 'vip-table-suffix': '', 'vip-drain': '2secs' } as unknown as Args;

test('the VIP flags are checked before the agent starts', () => {
  assert.equal(agentArgsProblem(base), undefined);
  assert.match(agentArgsProblem({ ...base, 'vip-range': '11.0.0.1/8' }) ?? '', /^--vip-range: .*host bits/);
  assert.match(agentArgsProblem({ ...base, 'vip-range': '11.0.0.0/40' }) ?? '', /^--vip-range: /);
  assert.match(agentArgsProblem({ ...base, 'vip-table-suffix': 'x;flush ruleset' }) ?? '', /^--vip-table-suffix: /);
  assert.match(agentArgsProblem({ ...base, 'vip-drain': 'soon' }) ?? '', /^--vip-drain must be a duration/);
});
