/**
 * Shared settings for in-process test agents: short retry and reconnect delays, so a test never
 * waits on production back-offs, and no resource detection (each test says what it offers).
 */
import { silentLogger } from '../../src/log/index.ts';
import { LinuxContainerizer } from '../../src/agent/containerizer/linux/linux-containerizer.ts';

export const FAST_AGENT = {
  detectResources: false,
  hostname: 'test-agent',
  logger: silentLogger(),
  reconnectBackoff: { initialMs: 20, maxMs: 200 },
  statusUpdateBackoff: { initialMs: 1000, maxMs: 2000 },
} as const;

/** Why the linux containerizer cannot run here (not root, no cgroups…), or undefined if it can. */
export function linuxUnavailable(): string | undefined {
  try {
    LinuxContainerizer.create({ logger: silentLogger() });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
