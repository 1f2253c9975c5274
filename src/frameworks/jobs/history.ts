/**
 * A job's run history, pure: Metronome's counters and last times, the last N finished runs of
 * each kind with their task ids (so their sandboxes and logs stay reachable), and — a Drover
 * addition — the ticks and cycles that were skipped, with the reason.
 */
import { metronomeTime, type Run } from './run.ts';

export interface FinishedRun {
  id: string;
  createdAt: number;
  finishedAt: number;
  tasks: string[];
  reason?: string;
}

export interface SkippedRun {
  /** The scheduled time (ticks) or the cycle (dependent jobs) that did not run. */
  scheduledAt?: number;
  cycle: string;
  skippedAt: number;
  reason: string;
  /** How many ticks this one record stands for (a long outage is summarised). */
  count: number;
}

export interface History {
  successCount: number;
  failureCount: number;
  skippedCount: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  successfulFinishedRuns: FinishedRun[];
  failedFinishedRuns: FinishedRun[];
  skippedRuns: SkippedRun[];
}

export const DEFAULT_HISTORY_COUNT = 10;

export function emptyHistory(): History {
  return { successCount: 0, failureCount: 0, skippedCount: 0, successfulFinishedRuns: [], failedFinishedRuns: [], skippedRuns: [] };
}

export interface HistoryChange {
  history: History;
  /** Run ids that fell out of the retained window (their stored records can go). */
  dropped: string[];
}

/** Record a finished run (newest first); keeps `keep` of each kind. */
export function recordFinished(history: History, run: Run, keep: number): HistoryChange {
  const entry: FinishedRun = { id: run.id, createdAt: run.createdAt, finishedAt: run.completedAt ?? run.createdAt, tasks: run.tasks.map((t) => t.id), ...(run.reason ? { reason: run.reason } : {}) };
  const h = structuredClone(history);
  // A run marked successful by hand after it failed moves from the failed list to the successful one.
  const wasFailed = h.failedFinishedRuns.some((r) => r.id === run.id);
  if (wasFailed) {
    h.failedFinishedRuns = h.failedFinishedRuns.filter((r) => r.id !== run.id);
    h.failureCount = Math.max(0, h.failureCount - 1);
  }
  const list = run.status === 'SUCCESS' ? h.successfulFinishedRuns : h.failedFinishedRuns;
  list.unshift(entry);
  const dropped = list.splice(keep).map((r) => r.id);
  if (run.status === 'SUCCESS') {
    h.successCount++;
    h.lastSuccessAt = Math.max(h.lastSuccessAt ?? 0, entry.finishedAt);
  } else {
    h.failureCount++;
    h.lastFailureAt = Math.max(h.lastFailureAt ?? 0, entry.finishedAt);
  }
  return { history: h, dropped };
}

export function recordSkipped(history: History, skip: SkippedRun, keep: number): History {
  const h = structuredClone(history);
  h.skippedRuns.unshift(skip);
  h.skippedRuns.splice(keep);
  h.skippedCount += skip.count;
  return h;
}

const finishedJson = (r: FinishedRun): Record<string, unknown> => ({
  id: r.id,
  createdAt: metronomeTime(r.createdAt),
  finishedAt: metronomeTime(r.finishedAt),
  tasks: r.tasks,
  ...(r.reason ? { reason: r.reason } : {}),
});

export function historySummaryJson(h: History): Record<string, unknown> {
  return { successCount: h.successCount, failureCount: h.failureCount, skippedCount: h.skippedCount, lastSuccessAt: metronomeTime(h.lastSuccessAt), lastFailureAt: metronomeTime(h.lastFailureAt) };
}

export function historyJson(h: History): Record<string, unknown> {
  return {
    ...historySummaryJson(h),
    successfulFinishedRuns: h.successfulFinishedRuns.map(finishedJson),
    failedFinishedRuns: h.failedFinishedRuns.map(finishedJson),
    skippedRuns: h.skippedRuns.map((s) => ({
      cycle: s.cycle,
      ...(s.scheduledAt === undefined ? {} : { scheduledAt: metronomeTime(s.scheduledAt) }),
      skippedAt: metronomeTime(s.skippedAt),
      reason: s.reason,
      count: s.count,
    })),
  };
}
