/**
 * What the master persists: agents' and frameworks' infos (the registry), and completed tasks
 * (the history, so a task that ended hours ago can still be found with its sandbox). Live tasks
 * are not persisted: agents own them and report them on re-registration.
 *
 * Keys:
 *   /drover/master/cluster                           {id, createdAt}  (written once, by the first master)
 *   /drover/master/agents/<agentId>                  {info, registeredAt}
 *   /drover/master/frameworks/<frameworkId>          {info, registeredAt}
 *   /drover/master/removed-frameworks/<frameworkId>  {removedAt}
 *   /drover/master/gone-agents/<agentId>             {removedAt, why}  (a rebooted machine's old agent)
 *   /drover/master/reservations/<agentId>            [Resource JSON]  (dynamic reservations and volumes; reservations.ts)
 *   /drover/master/history/<frameworkId>/<taskId>    completed task (JSON view)
 * Writes on hot paths (task history) go through the store's group-commit batch writer.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/index.ts';
import type { AgentInfo } from '../protocol/mesos/agent-link.ts';
import type { FrameworkInfo, ResourceJson } from '../protocol/mesos/scheduler.ts';
import type { BatchWriter, Store } from '../store/store.ts';
import type { TaskRecord } from './model.ts';
import { taskToJson } from './views.ts';

const PREFIX = '/drover/master';

export interface RegistryContents {
  /** The cluster this store belongs to (created on the first load of an empty store). */
  clusterId: string;
  /** `revision`: the record's modRevision (stale-store.ts compares agents' markers with it). */
  agents: Array<{ id: string; info: AgentInfo; registeredAt: number; revision: number }>;
  frameworks: Array<{ id: string; info: FrameworkInfo; registeredAt: number }>;
  removedFrameworks: string[];
  goneAgents: string[];
  /** Per agent id: its dynamically reserved resources and persistent volumes. */
  reservations: Map<string, ResourceJson[]>;
}

export class Registry {
  private readonly writer: BatchWriter;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {
    this.writer = store.batchWriter({ maxBatch: 100, maxDelayMs: 5 });
  }

  async load(): Promise<RegistryContents> {
    const clusterId = await this.clusterId();
    const [agents, frameworks, removed, gone, reservations] = await Promise.all([
      this.store.range(`${PREFIX}/agents/`),
      this.store.range(`${PREFIX}/frameworks/`),
      this.store.range(`${PREFIX}/removed-frameworks/`),
      this.store.range(`${PREFIX}/gone-agents/`),
      this.store.range(`${PREFIX}/reservations/`),
    ]);
    return {
      clusterId,
      agents: agents.kvs.map((kv) => ({ ...(JSON.parse(kv.value) as Omit<RegistryContents['agents'][number], 'revision'>), revision: kv.modRevision })),
      frameworks: frameworks.kvs.map((kv) => JSON.parse(kv.value) as RegistryContents['frameworks'][number]),
      removedFrameworks: removed.kvs.map((kv) => kv.key.slice(`${PREFIX}/removed-frameworks/`.length)),
      goneAgents: gone.kvs.map((kv) => kv.key.slice(`${PREFIX}/gone-agents/`.length)),
      reservations: new Map(reservations.kvs.map((kv) => [kv.key.slice(`${PREFIX}/reservations/`.length), JSON.parse(kv.value) as ResourceJson[]])),
    };
  }

  /**
   * The store's cluster id; the first master on an empty store creates it (a compare-and-set, so
   * two masters racing on one etcd agree). It lives in the store itself, so it is lost, replaced or
   * restored together with the registry it vouches for.
   */
  private async clusterId(): Promise<string> {
    const key = `${PREFIX}/cluster`;
    for (;;) {
      const kv = await this.store.get(key);
      if (kv) return (JSON.parse(kv.value) as { id: string }).id;
      const id = randomUUID();
      const { succeeded } = await this.store.txn({
        compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
        success: [{ type: 'put', key, value: JSON.stringify({ id, createdAt: Date.now() }) }],
      });
      if (succeeded) {
        this.log.info({ clusterId: id }, 'cluster-created');
        return id;
      }
    }
  }

  /** Returns the revision of the write: the agent's registry marker (stale-store.ts). */
  async putAgent(id: string, info: AgentInfo, registeredAt: number): Promise<number> {
    const { revision } = await this.store.put(`${PREFIX}/agents/${id}`, JSON.stringify({ id, info, registeredAt }));
    return revision;
  }

  /** The agent's whole ledger (none: the key goes). */
  async putReservations(agentId: string, resources: ResourceJson[]): Promise<void> {
    const key = `${PREFIX}/reservations/${agentId}`;
    if (resources.length === 0) await this.store.delete(key);
    else await this.store.put(key, JSON.stringify(resources));
  }

  async putFramework(id: string, info: FrameworkInfo, registeredAt: number): Promise<void> {
    await this.store.put(`${PREFIX}/frameworks/${id}`, JSON.stringify({ id, info, registeredAt }));
  }

  /** Fire-and-forget: the in-memory removal has happened; a failed write is logged. */
  removeFramework(id: string): void {
    this.store
      .txn({
        success: [
          { type: 'delete', key: `${PREFIX}/frameworks/${id}` },
          { type: 'put', key: `${PREFIX}/removed-frameworks/${id}`, value: JSON.stringify({ removedAt: Date.now() }) },
        ],
      })
      .catch((error: unknown) => this.log.error({ frameworkId: id, error }, 'registry-write-failed'));
  }

  /** The agent is gone for good: its record goes, and its id is refused from now on. */
  async removeAgentAsGone(id: string, why: string, removedAt: number): Promise<void> {
    await this.store.txn({
      success: [
        { type: 'delete', key: `${PREFIX}/agents/${id}` },
        { type: 'put', key: `${PREFIX}/gone-agents/${id}`, value: JSON.stringify({ removedAt, why }) },
      ],
    });
  }

  recordCompletedTask(task: TaskRecord): void {
    this.writer.put(`${PREFIX}/history/${task.frameworkId}/${task.id}`, JSON.stringify(taskToJson(task))).catch((error: unknown) => this.log.error({ taskId: task.id, error }, 'history-write-failed'));
  }

  async history(frameworkId?: string, taskId?: string): Promise<unknown[]> {
    if (frameworkId !== undefined && taskId !== undefined) {
      const kv = await this.store.get(`${PREFIX}/history/${frameworkId}/${taskId}`);
      return kv ? [JSON.parse(kv.value)] : [];
    }
    const prefix = frameworkId === undefined ? `${PREFIX}/history/` : `${PREFIX}/history/${frameworkId}/`;
    const result = await this.store.range(prefix);
    return result.kvs.map((kv) => JSON.parse(kv.value) as unknown);
  }

  async flush(): Promise<void> {
    await this.writer.flush();
  }
}
