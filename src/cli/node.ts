/**
 * `drover node list|drain|deactivate|reactivate|revoke`: agents and their maintenance, through the
 * master's operator API (`POST /api/v1` DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT,
 * MARK_AGENT_GONE, as Mesos; revoking an agent is marking it gone: src/iam/guard.ts).
 * A node is named by its agent id or its hostname.
 */
import type { Argv, CommandModule } from 'yargs';
import { CliError, type Client } from './client.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

interface NodeJson {
  id: string;
  hostname: string;
  active: boolean;
  deactivated?: boolean;
  drain_info?: { state: string };
  resources: Record<string, number | string>;
  used_resources: Record<string, number | string>;
}

type NodeArgs = ClientArgs & { node: string };

async function nodes(c: Client): Promise<NodeJson[]> {
  return (await c.get<{ slaves: NodeJson[] }>('/master/state-summary')).slaves;
}

/**
 * How to print each agent: its hostname, or — for a hostname several agents share (agents on one
 * machine) — the hostname with the end of the id that tells them apart.
 */
export async function agentNames(c: Client): Promise<(agentId: string) => string> {
  const all = await nodes(c);
  const shared = new Map<string, number>();
  for (const n of all) shared.set(n.hostname, (shared.get(n.hostname) ?? 0) + 1);
  const names = new Map(all.map((n) => [n.id, (shared.get(n.hostname) ?? 0) > 1 ? `${n.hostname} (${n.id.slice(n.id.lastIndexOf('-') + 1)})` : n.hostname]));
  return (id) => names.get(id) ?? id;
}

/** The agent id for an id or a hostname; a hostname shared by several agents is ambiguous. */
export async function resolveNode(c: Client, name: string): Promise<NodeJson> {
  const all = await nodes(c);
  const byId = all.find((n) => n.id === name);
  if (byId) return byId;
  const byHost = all.filter((n) => n.hostname === name);
  if (byHost.length === 1) return byHost[0]!;
  if (byHost.length > 1) throw new CliError(`hostname ${name} has ${byHost.length} agents: name one by id (${byHost.map((n) => n.id).join(', ')})`);
  throw new CliError(`no agent with id or hostname ${name}`);
}

function state(n: NodeJson): string {
  if (n.drain_info) return n.drain_info.state.toLowerCase();
  if (n.deactivated) return 'deactivated';
  return n.active ? 'active' : 'unreachable';
}

export function nodeCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  const node = (y: Argv<ClientArgs>) => y.positional('node', { type: 'string', demandOption: true, describe: 'Agent id or hostname' });
  return {
    command: 'node <command>',
    describe: 'Agents in the cluster and their maintenance',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command(
          'list',
          'List agents with their resources and state',
          (b) => b,
          (a) =>
            withClient(a, setExit, async (c) => {
              const list = await nodes(c);
              print(a.json === true, list, () =>
                table(
                  ['HOSTNAME', 'STATE', 'CPUS', 'MEM', 'ID'],
                  list.map((s) => [s.hostname, state(s), `${s.used_resources['cpus']}/${s.resources['cpus']}`, `${s.used_resources['mem']}/${s.resources['mem']}`, s.id]),
                ),
              );
            }),
        )
        .command<NodeArgs & { grace?: number; wait?: boolean }>(
          'drain <node>',
          'Stop offering the node and kill its tasks (their schedulers place them elsewhere)',
          (b) =>
            node(b)
              .option('grace', { type: 'number', describe: "Cap on each task's kill grace period, in seconds" })
              .option('wait', { type: 'boolean', describe: 'Wait until no task is left (DRAINED)' }),
          (a) =>
            withClient(a, setExit, async (c) => {
              const target = await resolveNode(c, a.node);
              if (a.grace !== undefined && !(a.grace >= 0)) throw new CliError('--grace must be a number of seconds ≥ 0');
              const maxGrace = a.grace === undefined ? {} : { max_grace_period: { nanoseconds: Math.round(a.grace * 1e9) } };
              await c.request('POST', '/api/v1', { type: 'DRAIN_AGENT', drain_agent: { agent_id: { value: target.id }, ...maxGrace } });
              process.stderr.write(`draining ${target.hostname} (${target.id})\n`);
              if (a.wait === true) {
                for (;;) {
                  const now = (await nodes(c)).find((n) => n.id === target.id);
                  if (!now?.drain_info || now.drain_info.state === 'DRAINED') break;
                  await new Promise((r) => setTimeout(r, 500));
                }
                process.stderr.write(`drained ${target.hostname}\n`);
              }
            }),
        )
        .command<NodeArgs>('deactivate <node>', 'Stop offering the node; its tasks keep running', node, (a) =>
          withClient(a, setExit, async (c) => {
            const target = await resolveNode(c, a.node);
            await c.request('POST', '/api/v1', { type: 'DEACTIVATE_AGENT', deactivate_agent: { agent_id: { value: target.id } } });
            process.stderr.write(`deactivated ${target.hostname} (${target.id})\n`);
          }),
        )
        .command<NodeArgs>('reactivate <node>', 'Offer the node again (ends a drain or a deactivation)', node, (a) =>
          withClient(a, setExit, async (c) => {
            const target = await resolveNode(c, a.node);
            await c.request('POST', '/api/v1', { type: 'REACTIVATE_AGENT', reactivate_agent: { agent_id: { value: target.id } } });
            process.stderr.write(`reactivated ${target.hostname} (${target.id})\n`);
          }),
        )
        .command<NodeArgs>(
          ['revoke <node>', 'mark-gone <node>'],
          'Remove the agent for good (MARK_AGENT_GONE): its tasks are TASK_GONE, its id, certificate and token refused from now on',
          node,
          (a) =>
            withClient(a, setExit, async (c) => {
              const target = await resolveNode(c, a.node);
              await c.request('POST', '/api/v1', { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: target.id } } });
              process.stderr.write(`revoked ${target.hostname} (${target.id}): marked gone; its certificate and token are refused\n`);
            }),
        )
        .demandCommand(1, 'Name a node command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}
