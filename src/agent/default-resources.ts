/**
 * What an agent offers when `--resources` does not say: every CPU, the memory minus a reserve for
 * the OS and the agent itself, the free disk of the work dir's filesystem minus a reserve, and
 * ports 31000-32000 (Mesos' defaults). A resource named in `--resources` is taken as given; the
 * others are filled in, as the Mesos agent does.
 */
import { availableParallelism, totalmem } from 'node:os';
import { mkdir, statfs } from 'node:fs/promises';
import { Resources } from '../resources/index.ts';

export const DEFAULT_PORTS = '[31000-32000]';
const MB = 1024 * 1024;

export interface MachineFacts {
  cpus: number;
  totalMemMb: number;
  freeDiskMb: number;
}

/** Reserve min(1 GiB, 10%) of memory and min(5 GiB, 10%) of disk; never offer less than 0. */
export function defaultResources(machine: MachineFacts, given: Resources = Resources.EMPTY): Resources {
  const names = new Set(given.names());
  const mem = Math.floor(machine.totalMemMb - Math.min(1024, machine.totalMemMb * 0.1));
  const disk = Math.floor(machine.freeDiskMb - Math.min(5 * 1024, machine.freeDiskMb * 0.1));
  const defaults: string[] = [];
  if (!names.has('cpus')) defaults.push(`cpus:${Math.max(1, machine.cpus)}`);
  if (!names.has('mem')) defaults.push(`mem:${Math.max(0, mem)}`);
  if (!names.has('disk')) defaults.push(`disk:${Math.max(0, disk)}`);
  if (!names.has('ports')) defaults.push(`ports:${DEFAULT_PORTS}`);
  return given.add(Resources.parse(defaults.join(';')));
}

export async function readMachineFacts(workDir: string): Promise<MachineFacts> {
  await mkdir(workDir, { recursive: true });
  const fs = await statfs(workDir);
  return {
    cpus: availableParallelism(),
    totalMemMb: Math.floor(totalmem() / MB),
    freeDiskMb: Math.floor((fs.bavail * fs.bsize) / MB),
  };
}

/** `given` completed with detected defaults for the work dir's machine. */
export async function detectResources(workDir: string, given?: Resources): Promise<Resources> {
  return defaultResources(await readMachineFacts(workDir), given);
}
