/**
 * Which containerizer an agent runs: `linux` (namespaces and cgroups) by default when it can —
 * root, util-linux, usable cgroups — else `posix` (ProcessContainerizer, plain processes), with a
 * `containerizer-fallback` warning that says why. Asking for `linux` where it cannot work falls
 * back the same way rather than refusing to start: the agent stays useful, and the log says
 * its tasks are not isolated.
 */
import type { Logger } from '../../log/index.ts';
import type { Containerizer } from './containerizer.ts';
import { LinuxContainerizer } from './linux/linux-containerizer.ts';
import { ProcessContainerizer } from './process-containerizer.ts';
import type { CniOptions } from '../network/cni.ts';
import type { UserNamespaceRange } from './linux/launcher.ts';
import type { LayerStore } from '../../images/layer-store.ts';

export const CONTAINERIZER_KINDS = ['linux', 'posix'] as const;
export type ContainerizerKind = (typeof CONTAINERIZER_KINDS)[number];

export interface ContainerizerChoice {
  kind?: ContainerizerKind;
  logger: Logger;
  pollIntervalMs: number;
  /** CNI config and plugin dirs for the linux containerizer. */
  cni?: CniOptions;
  /** Hard CFS quota per task on top of shares (linux containerizer); default false. */
  cfsQuota?: boolean;
  /** `--allow-privileged`: run tasks that ask to be privileged (linux containerizer); default false. */
  allowPrivileged?: boolean;
  /** `--host-volume-paths` (linux containerizer; see LinuxContainerizerOptions.hostVolumePaths). */
  hostVolumePaths?: string[];
  /** `--default-task-user`: who a task runs as when neither it nor its framework says; default nobody. */
  defaultUser?: string;
  /** `--user-namespaces` (linux containerizer; see LinuxContainerizerOptions.userNamespaces). */
  userNamespaces?: UserNamespaceRange;
  /** The agent's image store and work dir: tasks naming an image run in it (linux containerizer). */
  images?: { store: LayerStore; workDir: string };
  /** The agent's resolver's resolv.conf for tasks (LinuxContainerizerOptions.resolvConf). */
  resolvConf?: string;
  /** The same for tasks in CNI networks (LinuxContainerizerOptions.resolvConfForGateways). */
  resolvConfForGateways?: (gateways: readonly string[]) => Promise<string | undefined>;
}

export function createContainerizer(choice: ContainerizerChoice): Containerizer {
  const { logger, pollIntervalMs } = choice;
  if (choice.kind === 'posix' && choice.userNamespaces !== undefined) throw new Error('--user-namespaces needs the linux containerizer, not posix');
  if (choice.kind !== 'posix') {
    try {
      return LinuxContainerizer.create({
        logger,
        pollIntervalMs,
        ...(choice.cni === undefined ? {} : { cni: choice.cni }),
        ...(choice.cfsQuota === undefined ? {} : { cfsQuota: choice.cfsQuota }),
        ...(choice.allowPrivileged === undefined ? {} : { allowPrivileged: choice.allowPrivileged }),
        ...(choice.hostVolumePaths === undefined ? {} : { hostVolumePaths: choice.hostVolumePaths }),
        ...(choice.defaultUser === undefined ? {} : { defaultUser: choice.defaultUser }),
        ...(choice.userNamespaces === undefined ? {} : { userNamespaces: choice.userNamespaces }),
        ...(choice.images === undefined ? {} : { images: choice.images.store, workDir: choice.images.workDir }),
        ...(choice.resolvConf === undefined ? {} : { resolvConf: choice.resolvConf }),
        ...(choice.resolvConfForGateways === undefined ? {} : { resolvConfForGateways: choice.resolvConfForGateways }),
      });
    } catch (err) {
      // Asked for user namespaces, the posix containerizer would run tasks as real host users.
      if (choice.userNamespaces !== undefined) throw new Error(`--user-namespaces needs the linux containerizer: ${(err as Error).message}`);
      logger.warn({ requested: choice.kind ?? 'default', reason: (err as Error).message, using: 'posix' }, 'containerizer-fallback');
    }
  }
  return new ProcessContainerizer({ logger, pollIntervalMs });
}
