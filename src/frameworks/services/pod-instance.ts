/**
 * A Marathon pod instance as the services framework keeps it (pods.ts): its tasks, one per
 * container, and what their states say of it (live, unreachable, running, healthy); its id and
 * its tasks' ids. Pure.
 */
import { randomUUID } from 'node:crypto';
import { isTerminalState, type TaskState } from '../../protocol/mesos/enums.ts';
import type { Pod } from './pod-schema.ts';

export interface PodTask {
  taskId: string;
  container: string;
  state: TaskState;
  message?: string;
  healthy?: boolean;
  since: string;
  /** It ended with its machine (loss-cause.ts): not a crash of the pod, no backoff. */
  machineLoss?: boolean;
}

export interface PodInstance {
  id: string;
  podId: string;
  /** Pod version it was launched with, and its configuration version (a scale keeps it). */
  version: string;
  configVersion: string;
  agentId: string;
  hostname: string;
  /** Host port of each endpoint that has one. */
  ports: Record<string, number>;
  /** Its addresses on its container networks (from the agent's TASK_RUNNING). */
  networks?: Array<{ name: string; addresses: string[] }>;
  tasks: PodTask[];
  stagedAt: string;
  startedAt?: string;
  killing?: boolean;
  /** The role its tasks run in (its offer's); absent in instances stored before pods had roles. */
  role?: string;
  /** Since when a task of it has been TASK_UNREACHABLE (the pod's unreachableStrategy counts from here). */
  unreachableSince?: string;
  /** Its reservation and persistent volumes (pods with persistent volumes: pod-slots.ts). */
  slotId?: string;
}

export const instanceIdOf = (taskId: string): string => taskId.slice(0, taskId.lastIndexOf('.'));

/**
 * A pod task's id: `<pod>.instance-<uuid>.<container>`. An app's is `<app>.instance-<uuid>._app.1`
 * (app.ts); a container name never starts with `_`, so the two never match each other.
 */
const POD_TASK_ID = /^.+\.instance-[0-9a-f-]{36}\.[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const isPodTaskId = (taskId: string): boolean => taskId.length <= 1024 && POD_TASK_ID.test(taskId);

export function newInstanceId(podId: string): string {
  return `${podId.split('/').filter(Boolean).join('_')}.instance-${randomUUID()}`;
}

export const live = (i: PodInstance): boolean => i.tasks.some((t) => !isTerminalState(t.state));
export const unreachable = (i: PodInstance): boolean => i.tasks.some((t) => t.state === 'TASK_UNREACHABLE');
/** Pods stored before unreachableStrategy existed have Marathon's default. */
export const strategyOf = (pod: Pod | undefined): Pod['scheduling']['unreachableStrategy'] => pod?.scheduling.unreachableStrategy ?? { inactiveAfterSeconds: 0, expungeAfterSeconds: 0 };
export const running = (i: PodInstance): boolean => i.tasks.every((t) => t.state === 'TASK_RUNNING' || t.state === 'TASK_FINISHED') && i.tasks.some((t) => t.state === 'TASK_RUNNING');

/** Every container with a health check reports healthy (the agent's checks; Marathon waits for them too). */
export function healthyWhereChecked(pod: Pod, i: PodInstance): boolean {
  return i.tasks.every((t) => pod.containers.find((c) => c.name === t.container)?.healthCheck === undefined || t.healthy === true);
}
