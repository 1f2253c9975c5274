import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { AgentListJson } from './agent-list-json.ts';
import type { AgentRecord } from './model.ts';
import { agentToJson } from './views.ts';

const R = (text: string): Resources => Resources.parse(text);

function agent(n: number): AgentRecord {
  const total = R(`cpus:4;mem:1024;ports:[31000-32000];disk(web):${n + 1}`);
  return {
    id: `agent-"${n}"`,
    info: { hostname: 'h', port: 5051, resources: total.toJSON() },
    hostname: `host\u00e9 ${n}`,
    port: 5051,
    total,
    attributes: [{ name: 'rack', type: 'TEXT', text: { value: `r${n}` } }],
    used: Resources.EMPTY,
    offered: Resources.EMPTY,
    status: 'active',
    registeredAt: n,
    lastSeen: 0,
  };
}

const text = (list: AgentListJson, agents: AgentRecord[]): string => list.of(agents).text;
const fresh = (agents: AgentRecord[]): string => JSON.stringify(agents.map(agentToJson));

test('the agents are JSON.stringify of their agentToJson, made again only for an agent whose record changed', () => {
  const agents = [agent(0), agent(1), agent(2)];
  const list = new AgentListJson();
  assert.equal(text(list, agents), fresh(agents));
  assert.equal(list.made, 3);
  // Nothing changed: nothing made, and the very same answer.
  const first = list.of(agents);
  assert.equal(list.of(agents), first);
  assert.equal(list.made, 3);

  // Each way the master changes an agent record (assigning a field) re-makes that agent only.
  const changes: Array<[string, (a: AgentRecord) => void]> = [
    ['offered', (a) => (a.offered = a.offered.add(R('cpus:1;mem:64')))],
    ['used', (a) => (a.used = a.used.add(R('cpus:0.5')))],
    ['total', (a) => (a.total = R('cpus:8;mem:2048'))],
    ['status', (a) => (a.status = 'unreachable')],
    ['maintenance', (a) => (a.maintenance = { ...a.maintenance, deactivated: true })],
    ['removal hold', (a) => (a.removalHeldSince = 5000)],
    ['re-registration', (a) => Object.assign(a, { hostname: 'other', port: 5052, attributes: [], reregisteredAt: 7000 })],
  ];
  for (const [what, change] of changes) {
    const made: number = list.made;
    change(agents[1]!);
    assert.equal(text(list, agents), fresh(agents), `after a change of ${what}`);
    assert.equal(list.made, made + 1, `${what}: one agent made again`);
  }

  // An agent gone, and one added: the list follows; the others are not made again.
  const before = list.made;
  agents.splice(0, 1);
  assert.equal(text(list, agents), fresh(agents));
  agents.push(agent(9));
  assert.equal(text(list, agents), fresh(agents));
  assert.equal(list.made, before + 1);
  assert.equal(text(list, []), '[]');
});
