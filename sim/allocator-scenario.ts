/**
 * The `allocator` scenario: offer-cycle time at 10,000 agents × 100 frameworks. Driven in-process
 * on a real Master (its runAllocation: snapshot, pure DRF allocate(), offer records, OFFERS
 * events encoded as RecordIO exactly as for HTTP frameworks) — not through 100 HTTP frameworks,
 * which on a shared 2-core machine would measure the frameworks' JSON parsing, not the master.
 * Agents and frameworks are registered directly on the master's model with sinks that encode
 * and drop their events. Between cycles every offer is returned without a refusal filter, so
 * each cycle offers every agent again (Mesos' DeclineOffers benchmark does the same).
 */
import { loadavg } from 'node:os';
import { silentLogger } from '../src/log/index.ts';
import { Master } from '../src/master/master.ts';
import type { EventSink } from '../src/master/stream.ts';
import type { TaskRecord } from '../src/master/model.ts';
import { encodeJsonRecord } from '../src/protocol/recordio.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import type { Scenario } from './scenario.ts';

class DroppingSink implements EventSink {
  static seq = 0;
  readonly id = `sink-${DroppingSink.seq++}`;
  readonly isOpen = true;
  bytes = 0;
  open(): void {}
  send(event: unknown): void {
    this.bytes += encodeJsonRecord(event).length;
  }
  close(): void {}
  onClose(): void {}
}

/**
 * The scenario's master: frameworks, agents and tasks registered directly on its model, no cycle
 * run yet. Also used to compare two trees' cycles in one process (docs/architecture/024-allocator-cycle.md).
 */
export async function allocatorScenarioMaster(s: Scenario): Promise<{ master: Master; store: ReturnType<typeof createMemoryStore> }> {
  const { frameworks: frameworkCount, tasksPerAgent, roles: roleCount = 0, weights = {}, quota = {}, reservedAgents = 0 } = s.allocator!;
  const store = createMemoryStore();
  const master = new Master({ store, logger: silentLogger(), hostname: 'sim', port: 5050 });
  const total = Resources.parse(s.agents.resources);
  const reserved = Resources.parse(s.agents.resources, 'role-0');
  const task = Resources.parse(`cpus:${s.apps.cpus};mem:${s.apps.mem}`);
  const now = Date.now();
  const roleOf = (f: number): string => (roleCount > 0 ? `role-${f % roleCount}` : '*');
  for (let f = 0; f < frameworkCount; f++) {
    const id = master.nextFrameworkId();
    const record = master.newFrameworkRecord(id, { user: 'sim', name: `sim-${f}`, roles: [roleOf(f)] }, now);
    record.stream = new DroppingSink();
    master.frameworks.set(id, record);
  }
  const frameworkIds = [...master.frameworks.keys()];
  const frameworkRole = new Map(frameworkIds.map((id, f) => [id, roleOf(f)]));
  await master.roleConfig.updateWeights(Object.entries(weights).map(([role, weight]) => ({ role, weight })));
  await master.roleConfig.updateQuotas(
    Object.entries(quota).map(([role, q]) => ({ role, quota: { guarantees: new Map(Object.entries(q.guarantees ?? {})), limits: new Map(Object.entries(q.limits ?? {})) } })),
  );
  let taskSeq = 0;
  for (let a = 0; a < s.agents.count; a++) {
    const id = master.nextAgentId();
    const isReserved = roleCount > 0 && a < reservedAgents;
    const agentTotal = isReserved ? reserved : total;
    let used = Resources.EMPTY;
    for (let t = 0; t < tasksPerAgent; t++) {
      // A reserved agent runs tasks of role-0 only (frameworks 0, roles, 2 × roles, …).
      const frameworkId = isReserved ? frameworkIds[(taskSeq * roleCount) % frameworkIds.length]! : frameworkIds[taskSeq % frameworkIds.length]!;
      const taskId = `task-${taskSeq++}`;
      const role = frameworkRole.get(frameworkId)!;
      const resources = isReserved ? Resources.parse(`cpus:${s.apps.cpus};mem:${s.apps.mem}`, 'role-0') : task;
      const record: TaskRecord = {
        id: taskId,
        frameworkId,
        agentId: id,
        role,
        resources,
        state: 'TASK_RUNNING',
        statuses: [],
        statusUuid: undefined,
        directory: undefined,
        createdAt: now,
        info: { name: taskId },
      };
      master.tasks.set(record);
      used = used.add(resources);
    }
    master.agents.set(id, {
      id,
      info: { hostname: `hollow-${a}`, port: 5051, resources: agentTotal.toJSON() },
      hostname: `hollow-${a}`,
      port: 5051,
      total: agentTotal,
      attributes: [],
      used,
      offered: Resources.EMPTY,
      status: 'active',
      registeredAt: now,
      lastSeen: now,
      stream: new DroppingSink(),
    });
  }
  return { master, store };
}

/** One cycle as the scenario runs it: every offer of the last cycle returned, then a cycle. */
export function allocatorScenarioCycle(master: Master): { ms: number; cpuMs: number; offers: number } {
  for (const offer of [...master.offers.values()]) master.removeOffer(offer);
  const before = master.offers.size;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  master.runAllocation();
  const cpu = process.cpuUsage(cpu0);
  // On a shared machine wall time includes waiting for a core; CPU time (this process's
  // threads, so the collector's helpers too) does not.
  return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, offers: master.offers.size - before };
}

export async function runAllocatorScenario(s: Scenario, options: { progress?: (l: string) => void } = {}): Promise<Record<string, unknown>> {
  const log = options.progress ?? (() => undefined);
  const { frameworks: frameworkCount, cycles, roles: roleCount = 0, reservedAgents = 0, goalCycleMs } = s.allocator!;
  const { master, store } = await allocatorScenarioMaster(s);
  log(`${s.agents.count} agents, ${frameworkCount} frameworks in ${Math.max(1, roleCount)} roles, ${master.tasks.size} tasks, ${master.roleConfig.quotas.size} quotas; ${cycles} cycles`);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let offers = 0;
  let lastOffers: Record<string, { offers: number; cpus: number }> = {};
  for (let c = 0; c < cycles; c++) {
    const cycle = allocatorScenarioCycle(master);
    times.push(cycle.ms);
    cpuTimes.push(cycle.cpuMs);
    offers = cycle.offers;
    if (c === cycles - 1) lastOffers = offeredByRole(master);
    log(`cycle ${c + 1}: ${times.at(-1)!.toFixed(1)} ms (CPU ${cpuTimes.at(-1)!.toFixed(1)} ms), ${offers} offers`);
  }
  await store.close();
  const sorted = [...times].sort((a, b) => a - b);
  const sortedCpu = [...cpuTimes].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)]!;
  const p50Cpu = sortedCpu[Math.floor(sortedCpu.length / 2)]!;
  const mean = times.reduce((x, y) => x + y, 0) / times.length;
  const mem = process.memoryUsage();
  return {
    scenario: s.name,
    agents: s.agents.count,
    tasks: master.tasks.size,
    frameworks: frameworkCount,
    cycles,
    offersPerCycle: offers,
    roles: Math.max(1, roleCount),
    quotas: master.roleConfig.quotas.size,
    reservedAgents: roleCount > 0 ? reservedAgents : 0,
    ...(roleCount > 0 ? { lastCycleByRole: lastOffers } : {}),
    meanCycleMs: round(mean),
    p50CycleMs: round(p50),
    maxCycleMs: round(sorted.at(-1)!),
    meanCycleCpuMs: round(cpuTimes.reduce((x, y) => x + y, 0) / cpuTimes.length),
    p50CycleCpuMs: round(p50Cpu),
    // Wall time on a loaded machine is mostly waiting for a core: CPU time says what the cycle costs.
    ...(goalCycleMs === undefined ? {} : { goal: { cycleMs: goalCycleMs, p50Met: p50 <= goalCycleMs, p50CpuMet: p50Cpu <= goalCycleMs, loadavg: round(loadavg()[0]!) } }),
    seconds: round(times.reduce((x, y) => x + y, 0) / 1000),
    inProcess: true,
    rssMb: round(mem.rss / 2 ** 20),
  };
}

/** Offers of the last cycle per role: how many, and their cpus (quota's effect, for the summary). */
function offeredByRole(master: Master): Record<string, { offers: number; cpus: number }> {
  const out: Record<string, { offers: number; cpus: number }> = {};
  for (const o of master.offers.values()) {
    const r = (out[o.role] ??= { offers: 0, cpus: 0 });
    r.offers++;
    r.cpus = round(r.cpus + o.resources.cpus());
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
