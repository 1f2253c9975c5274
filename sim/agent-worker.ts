/**
 * A worker thread that runs one AgentFleet (workerData: FleetSpec). Messages from the parent:
 * `{ type: 'stats' }` → `{ type: 'stats', stats }`; `{ type: 'stop' }` → `{ type: 'stopped' }`;
 * `{ type: 'partition', fraction }` → `{ type: 'partitioned', lost }`; `{ type: 'heal' }` →
 * `{ type: 'healed' }`; `{ type: 'report' }` → `{ type: 'report', report }` (agent-fleet.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AgentFleet, type FleetSpec } from './agent-fleet.ts';

const fleet = new AgentFleet(workerData as FleetSpec);
await fleet.start();
parentPort!.on('message', (message: { type: string; fraction?: number }) => {
  if (message.type === 'stats') parentPort!.postMessage({ type: 'stats', stats: fleet.stats() });
  if (message.type === 'partition') void fleet.partition(message.fraction ?? 0).then((lost) => parentPort!.postMessage({ type: 'partitioned', lost }));
  if (message.type === 'heal') {
    fleet.heal();
    parentPort!.postMessage({ type: 'healed' });
  }
  if (message.type === 'report') parentPort!.postMessage({ type: 'report', report: fleet.partitionReport() });
  if (message.type === 'stop') {
    void fleet.stop().finally(() => {
      parentPort!.postMessage({ type: 'stopped' });
      parentPort!.close();
    });
  }
});
parentPort!.postMessage({ type: 'started' });
