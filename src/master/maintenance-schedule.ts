/**
 * Mesos' maintenance primitives (docs/maintenance.md): a **schedule** of windows, each a set of
 * machines (`{hostname, ip}`) and when they will be unavailable. A scheduled machine is
 * **DRAINING**; `machine/down` (START_MAINTENANCE) takes draining machines **DOWN**, `machine/up`
 * (STOP_MAINTENANCE) brings down machines back **UP** and out of the schedule.
 *
 * The rules are Mesos' (master/maintenance.cpp, validation): a machine names a hostname or an ip
 * and appears in one window at most; only a draining machine can go down, only a down machine can
 * come up, and a down machine cannot leave the schedule. The state is one key in the store.
 *
 * What DOWN does to the agents on the machine differs on purpose: Mesos removes them (their tasks
 * are lost, they may not register until the machine is up); Drover drains them through the agent
 * maintenance it already has (maintenance.ts: tasks killed within their grace period, no offers)
 * and reactivates them when the machine comes up. Drover sends no inverse offers, so a draining
 * machine's `statuses` stay empty.
 */
import { DroverError, type ErrorDetail } from '../errors/errors.ts';
import type { Store } from '../store/store.ts';

const KEY = '/drover/master/maintenance-schedule';
const MAX_WINDOWS = 1000;
const MAX_MACHINES = 10_000;

export interface MachineId {
  hostname?: string;
  ip?: string;
}

export interface MaintenanceWindow {
  machine_ids: MachineId[];
  unavailability: { start: { nanoseconds: number }; duration?: { nanoseconds: number } };
}

export interface Schedule {
  windows: MaintenanceWindow[];
}

export interface ClusterStatus {
  draining_machines: Array<{ id: MachineId }>;
  down_machines: MachineId[];
}

/** One key per machine: hostnames compare case-insensitively (DNS names). */
export function machineKey(m: MachineId): string {
  return `${(m.hostname ?? '').toLowerCase()}/${m.ip ?? ''}`;
}

const refuse = (message: string, details: ErrorDetail[]): never => {
  throw new DroverError('MALFORMED', message, { details });
};

/** Mesos' schedule validation; the path in each refusal is the field's (`/windows/0/machine_ids/1`). */
export function validateSchedule(schedule: Schedule, base = ''): void {
  if (schedule.windows.length > MAX_WINDOWS) refuse(`At most ${MAX_WINDOWS} windows`, [{ path: `${base}/windows`, errors: [`at most ${MAX_WINDOWS}`] }]);
  const seen = new Set<string>();
  let count = 0;
  schedule.windows.forEach((w, i) => {
    if (w.machine_ids.length === 0) refuse('List of machines in the maintenance window is empty', [{ path: `${base}/windows/${i}/machine_ids`, errors: ['must name at least one machine'] }]);
    if ((w.unavailability.duration?.nanoseconds ?? 0) < 0) refuse('Unavailability duration is negative', [{ path: `${base}/windows/${i}/unavailability/duration`, errors: ['must not be negative'] }]);
    w.machine_ids.forEach((m, j) => {
      const path = `${base}/windows/${i}/machine_ids/${j}`;
      if ((m.hostname ?? '') === '' && (m.ip ?? '') === '') refuse('Both hostname and IP for a machine are empty', [{ path, errors: ['needs a hostname or an ip'] }]);
      const key = machineKey(m);
      if (seen.has(key)) refuse(`Machine '${m.hostname ?? m.ip}' appears more than once in the schedule`, [{ path, errors: ['appears more than once'] }]);
      seen.add(key);
      if (++count > MAX_MACHINES) refuse(`At most ${MAX_MACHINES} machines`, [{ path, errors: [`at most ${MAX_MACHINES} machines in all`] }]);
    });
  });
}

/** What the schedule does to agents: the shell the master provides. */
export interface MachineHost {
  /** Agent ids on the machine (by hostname or address). */
  agentsOn(machine: MachineId): string[];
  down(agentId: string): Promise<void>;
  up(agentId: string): Promise<void>;
}

export class MaintenanceSchedule {
  private schedule: Schedule = { windows: [] };
  private readonly downMachines = new Map<string, MachineId>();
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly host: MachineHost,
  ) {}

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      const { kvs } = await this.store.range(KEY);
      const kv = kvs.find((k) => k.key === KEY);
      if (kv === undefined) return;
      const saved = JSON.parse(kv.value) as { schedule: Schedule; down: MachineId[] };
      this.schedule = saved.schedule;
      for (const m of saved.down) this.downMachines.set(machineKey(m), m);
    })();
    return this.loaded;
  }

  async get(): Promise<Schedule> {
    await this.load();
    return this.schedule;
  }

  async status(): Promise<ClusterStatus> {
    await this.load();
    const draining = this.schedule.windows.flatMap((w) => w.machine_ids).filter((m) => !this.downMachines.has(machineKey(m)));
    return { draining_machines: draining.map((id) => ({ id })), down_machines: [...this.downMachines.values()] };
  }

  async update(schedule: Schedule, base = ''): Promise<void> {
    await this.load();
    validateSchedule(schedule, base);
    const scheduled = new Set(schedule.windows.flatMap((w) => w.machine_ids).map(machineKey));
    for (const m of this.downMachines.values()) {
      if (!scheduled.has(machineKey(m)))
        refuse(`Machine '${m.hostname ?? m.ip}' is deactivated and must remain in the schedule`, [{ path: `${base}/windows`, errors: [`must still name the down machine ${m.hostname ?? m.ip}`] }]);
    }
    await this.save(schedule);
  }

  /** machine/down: every machine must be draining (scheduled, not down); then all go down at once. */
  async down(machines: MachineId[], base = ''): Promise<void> {
    await this.load();
    const scheduled = new Set(this.schedule.windows.flatMap((w) => w.machine_ids).map(machineKey));
    machines.forEach((m, i) => {
      const key = machineKey(m);
      if (!scheduled.has(key) || this.downMachines.has(key))
        refuse(`Machine '${m.hostname ?? m.ip}' is not in DRAINING mode and cannot be brought down`, [{ path: `${base}/${i}`, errors: ['not a draining machine'] }]);
    });
    await this.save(this.schedule, [...this.downMachines.values(), ...machines]);
    for (const m of machines) for (const agentId of this.host.agentsOn(m)) await this.host.down(agentId);
  }

  /** machine/up: every machine must be down; they come up and leave the schedule (empty windows go too). */
  async up(machines: MachineId[], base = ''): Promise<void> {
    await this.load();
    machines.forEach((m, i) => {
      if (!this.downMachines.has(machineKey(m))) refuse(`Machine '${m.hostname ?? m.ip}' is not in DOWN mode and cannot be brought up`, [{ path: `${base}/${i}`, errors: ['not a down machine'] }]);
    });
    const keys = new Set(machines.map(machineKey));
    const windows = this.schedule.windows.map((w) => ({ ...w, machine_ids: w.machine_ids.filter((m) => !keys.has(machineKey(m))) })).filter((w) => w.machine_ids.length > 0);
    await this.save(
      { windows },
      [...this.downMachines.values()].filter((m) => !keys.has(machineKey(m))),
    );
    for (const m of machines) for (const agentId of this.host.agentsOn(m)) await this.host.up(agentId);
  }

  /** Stored first, then in memory: a failed write changes nothing. */
  private async save(schedule: Schedule, down: MachineId[] = [...this.downMachines.values()]): Promise<void> {
    await this.store.put(KEY, JSON.stringify({ schedule, down }));
    this.schedule = schedule;
    this.downMachines.clear();
    for (const m of down) this.downMachines.set(machineKey(m), m);
  }
}
