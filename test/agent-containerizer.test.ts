/** Every containerizer runs the one contract suite (test/agent-containerizer-contract.ts). */
import { ProcessContainerizer } from '../src/agent/containerizer/process-containerizer.ts';
import { silentLogger } from '../src/log/index.ts';
import { containerizerContract } from './agent-containerizer-contract.ts';

containerizerContract('process', () => new ProcessContainerizer({ logger: silentLogger(), pollIntervalMs: 50 }));
