/**
 * The mass-loss banner: when the master holds agent removals (its mass-unreachable guard or its
 * removal rate limit), every page says how many agents are silent, that their removal is held,
 * and why — their tasks are not replaced meanwhile, which an operator must know before acting.
 * Reads `GET /master/agent-removal`; re-read on the master's `agent_removal_*_event`s on
 * /v2/events and on agent changes of the operator stream (live.ts), and by the slow poll.
 */
import { useResource } from './live.ts';

/** `GET /master/agent-removal` (src/master/views.ts agentRemovalJson). */
export interface AgentRemoval {
  held: number;
  unreachable: number;
  agents: number;
  reason: 'mass-unreachable' | 'rate-limit' | null;
  held_since: number | null;
  retry_at: number | null;
  marked_in_window: number;
  window_cap: number | null;
  window_seconds: number;
  guard_fraction: number;
  rate_limit: string | null;
  held_agents: Array<{ id: string; hostname: string; since: number }>;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
const clock = (seconds: number): string => new Date(seconds * 1000).toLocaleTimeString();

function why(r: AgentRemoval): string {
  if (r.reason === 'rate-limit')
    return `The agent removal rate limit (${r.rate_limit ?? '?'}) lets the master mark one agent at a time${r.retry_at === null ? '' : `; the next at ${clock(r.retry_at)}`}.`;
  return (
    `More than ${Math.round(r.guard_fraction * 100)} % of the agents went silent within one detection window (${r.window_seconds} s): ` +
    `that looks like a network partition, not dead machines, so at most ${r.window_cap ?? '?'} are marked per window` +
    `${r.retry_at === null ? '' : `; the next may be marked at ${clock(r.retry_at)}`}.`
  );
}

export function RemovalBanner() {
  const { data } = useResource<AgentRemoval>('/master/agent-removal', ['removal']);
  if (data === undefined || data.held === 0) return null;
  const names = data.held_agents.map((a) => a.hostname).join(', ');
  return (
    <div className="banner bad" role="alert" data-testid="removal-banner">
      <strong>
        {plural(data.held, 'agent is', 'agents are')} unreachable and {data.held === 1 ? 'its' : 'their'} removal is held
      </strong>
      {data.unreachable > 0 ? ` (${plural(data.unreachable, 'more agent', 'more agents')} already marked unreachable)` : ''}. {why(data)} Until {data.held === 1 ? 'it is' : 'they are'} marked or come
      back, {data.held === 1 ? 'its' : 'their'} tasks are not replaced.
      {names ? (
        <div className="banner-detail mono" title={names}>
          {names}
          {data.held > data.held_agents.length ? ` and ${data.held - data.held_agents.length} more` : ''}
        </div>
      ) : null}
    </div>
  );
}
