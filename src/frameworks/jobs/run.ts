/**
 * A job run and its state machine, pure. Statuses are Metronome's:
 *
 *   INITIAL ──► STARTING ──► ACTIVE ──► SUCCESS
 *      │  ▲         │  │        │  ▲
 *      │  └─retry───┘  │        │  └── (a task that exits 0 — never restarted)
 *      │  └──────retry─┼────────┘
 *      └───────────────┴────────┴────► FAILED ──(by hand)──► SUCCESS
 *
 * INITIAL waits for an offer; STARTING has a task launched; ACTIVE has a task running. A retry
 * (restart policy ON_FAILURE) goes back to INITIAL for a new task. FAILED → SUCCESS exists only
 * for "mark successful" (Chronos' job/success), which releases the run's dependents.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DroverError } from '../../errors/errors.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';

export type RunStatus = 'INITIAL' | 'STARTING' | 'ACTIVE' | 'SUCCESS' | 'FAILED';

export const TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  INITIAL: ['STARTING', 'SUCCESS', 'FAILED'],
  STARTING: ['ACTIVE', 'INITIAL', 'SUCCESS', 'FAILED'],
  ACTIVE: ['INITIAL', 'SUCCESS', 'FAILED'],
  SUCCESS: [],
  FAILED: ['SUCCESS'],
};

export const isFinished = (status: RunStatus): boolean => status === 'SUCCESS' || status === 'FAILED';

export interface RunTask {
  id: string;
  /** The Mesos task state (TASK_STAGING … TASK_FINISHED). */
  status: TaskState;
  agentId: string;
  hostname: string;
  startedAt: number;
  completedAt?: number;
  message?: string;
}

export interface Run {
  id: string;
  jobId: string;
  status: RunStatus;
  createdAt: number;
  completedAt?: number;
  /** What started it. */
  trigger: 'schedule' | 'manual' | 'dependency';
  /** The tick it belongs to (scheduled runs). */
  scheduledAt?: number;
  /**
   * The dependency cycle: the ISO time of the root's tick for scheduled roots, `manual-<runId>`
   * for a run started by hand. Children inherit their parents' cycle.
   */
  cycle: string;
  tasks: RunTask[];
  /** Set by stop: the run ends FAILED when its task ends, and is never retried. */
  stopRequested?: boolean;
  /** Why it failed, or that it was marked successful by hand. */
  reason?: string;
  /** Since when it waits in INITIAL for an offer (creation, or the end of the failed attempt). */
  waitingSince?: number;
}

/** Move a run to `to` if the table allows it; returns both states so events need no re-read. */
export function transition(run: Run, to: RunStatus, at: number): { before: RunStatus; after: RunStatus } {
  const before = run.status;
  if (!TRANSITIONS[before].includes(to)) throw new DroverError('CONFLICT', `Run '${run.id}' of job '${run.jobId}' cannot go from ${before} to ${to}`);
  run.status = to;
  if (isFinished(to)) run.completedAt = at;
  return { before, after: to };
}

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function suffix(bytes: Buffer): string {
  return [...bytes.subarray(0, 5)].map((b) => ALPHANUM[b % ALPHANUM.length]).join('');
}

/** Metronome's run id: `yyyyMMddHHmmss` + 5 random alphanumerics (from `random`, injectable). */
export function manualRunId(now: number, random: (size: number) => Buffer = randomBytes): string {
  return stamp(now) + suffix(random(5));
}

/**
 * The id of the run of `jobId` for `cycle`: deterministic, so that the run of a tick (or of a
 * dependency cycle) has one id whoever creates it — the store's create-if-absent does the rest.
 */
export function cycleRunId(jobId: string, cycle: string, at: number): string {
  return stamp(at) + suffix(createHash('sha256').update(`${jobId}\u0000${cycle}`).digest());
}

/** Mesos task id of a run's attempt (Metronome: `<jobId>_<runId>.<n>`). */
export function runTaskId(run: Run): string {
  return `${run.jobId}_${run.id}.${run.tasks.length + 1}`;
}

/** Metronome's timestamp format: `2016-07-15T13:02:59.735+0000`. */
export function metronomeTime(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString().replace('Z', '+0000');
}

export function runJson(run: Run): Record<string, unknown> {
  return {
    id: run.id,
    jobId: run.jobId,
    status: run.status,
    createdAt: metronomeTime(run.createdAt),
    completedAt: metronomeTime(run.completedAt),
    tasks: run.tasks.map((t) => ({ id: t.id, status: t.status, startedAt: metronomeTime(t.startedAt), completedAt: metronomeTime(t.completedAt), agentId: t.agentId, hostname: t.hostname })),
    trigger: run.trigger,
    cycle: run.cycle,
    ...(run.scheduledAt === undefined ? {} : { scheduledAt: metronomeTime(run.scheduledAt) }),
    ...(run.reason ? { reason: run.reason } : {}),
  };
}
