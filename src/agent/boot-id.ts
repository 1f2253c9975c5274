/**
 * The machine's boot id: a random UUID the Linux kernel draws at every boot. The agent records it
 * beside its id (meta/agent.json); a different one at the next start means the machine rebooted,
 * so no process of the previous run can still be alive — the agent registers as a new agent, as
 * the Mesos agent does (it checkpoints the boot id for the same reason).
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log/index.ts';

export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** The boot id in `file`, or undefined where there is none (not Linux): reboots then go unnoticed. */
export async function readBootId(file: string, logger: Logger): Promise<string | undefined> {
  try {
    const id = (await readFile(file, 'utf8')).trim();
    return id === '' ? undefined : id;
  } catch (err) {
    logger.warn({ file, err }, 'boot-id-unreadable');
    return undefined;
  }
}

/** Did the machine reboot since `recorded` was written? Unknown on either side counts as no. */
export function rebootedSince(recorded: string | undefined, current: string | undefined): boolean {
  return recorded !== undefined && current !== undefined && recorded !== current;
}
