/**
 * Cleanup for tests of tasks in images: such a task outlives its agent (as every task does), and
 * neither its command line nor its working directory names the test's folder. Its root does: the
 * overlay mounted at "/" in its mount namespace has its upper dir in the test's sandbox.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** SIGKILLs every process whose root filesystem is an overlay with its upper dir under `dir`. */
export function killImageTasksUnder(dir: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const root = readFileSync(`/proc/${entry}/mountinfo`, 'utf8')
        .split('\n')
        .find((line) => line.split(' ')[4] === '/');
      if (root?.includes(' overlay ') && root.includes(`upperdir=${dir}/`)) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}
