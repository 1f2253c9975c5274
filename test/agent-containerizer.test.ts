/** Every containerizer runs the one contract suite (test/agent-containerizer-contract.ts). */
import { test } from 'node:test';
import { detectCgroupLayout } from '../src/agent/containerizer/linux/cgroups.ts';
import { findLinuxTools } from '../src/agent/containerizer/linux/launch-command.ts';
import { LinuxContainerizer } from '../src/agent/containerizer/linux/linux-containerizer.ts';
import { ProcessContainerizer } from '../src/agent/containerizer/process-containerizer.ts';
import { silentLogger } from '../src/log/index.ts';
import { containerizerContract } from './agent-containerizer-contract.ts';

containerizerContract('process', () => new ProcessContainerizer({ logger: silentLogger(), pollIntervalMs: 50 }));

// The linux containerizer needs root and cgroups; where it cannot run, the skip says why.
function linuxSetup(): { layout: ReturnType<typeof detectCgroupLayout>; tools: ReturnType<typeof findLinuxTools> } | string {
  try {
    LinuxContainerizer.create({ logger: silentLogger() });
    return { layout: detectCgroupLayout(), tools: findLinuxTools() };
  } catch (err) {
    return (err as Error).message;
  }
}
const linux = linuxSetup();
if (typeof linux === 'string') {
  test('linux containerizer contract', { skip: linux }, () => undefined);
} else {
  containerizerContract('linux', () => new LinuxContainerizer({ logger: silentLogger(), pollIntervalMs: 50 }, linux.layout, linux.tools));
  // The command chain (launch-command.ts) is what runs where the task launcher cannot (no perl,
  // a kernel before mount_setattr): it keeps the same promises.
  containerizerContract('linux (command chain)', () => new LinuxContainerizer({ logger: silentLogger(), pollIntervalMs: 50, launcher: false }, linux.layout, linux.tools));
}
