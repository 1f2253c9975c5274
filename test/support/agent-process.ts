/**
 * A `drover agent` process as the cluster tests start one: registered with `masterUrl`, working
 * in `workDir`, on a free port, with its own hostname and resources; `extra` flags follow (e.g.
 * --containerizer linux, --attributes).
 */
import { type DroverProcess, startDrover } from '../../devkit/process.ts';

export function startAgentProcess(masterUrl: string, workDir: string, agent: { hostname: string; resources: string; extra?: string[] }): Promise<DroverProcess> {
  return startDrover(['agent', '--master', masterUrl, '--port', '0', '--work-dir', workDir, '--hostname', agent.hostname, '--resources', agent.resources, ...(agent.extra ?? [])]);
}
