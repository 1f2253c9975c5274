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

test('the resolver flags (--dns, --dns-master) are checked before the agent starts', () => {
  assert.equal(agentArgsProblem({ ...base, dns: '', 'dns-master': '10.0.0.1:53' }), undefined, 'bare --dns: the default address');
  assert.equal(agentArgsProblem({ ...base, dns: '127.0.0.153:53', 'dns-master': '10.0.0.1:53,10.0.0.2:53' }), undefined);
  assert.match(agentArgsProblem({ ...base, dns: '' }) ?? '', /^--dns needs --dns-master/);
  assert.match(agentArgsProblem({ ...base, dns: 'localhost', 'dns-master': '10.0.0.1:53' }) ?? '', /^--dns must be IPv4ADDR:PORT/);
  assert.match(agentArgsProblem({ ...base, dns: '', 'dns-master': '10.0.0.1' }) ?? '', /^--dns-master must be IPv4ADDR:PORT/);
});
