/**
 * A worker thread that runs one AgentFleet (workerData: FleetSpec). Messages from the parent:
 * `{ type: 'stats' }` → `{ type: 'stats', stats }`; `{ type: 'stop' }` → `{ type: 'stopped' }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AgentFleet, type FleetSpec } from './agent-fleet.ts';

const fleet = new AgentFleet(workerData as FleetSpec);
await fleet.start();
parentPort!.on('message', (message: { type: string }) => {
  if (message.type === 'stats') parentPort!.postMessage({ type: 'stats', stats: fleet.stats() });
  if (message.type === 'stop') {
    void fleet.stop().finally(() => {
      parentPort!.postMessage({ type: 'stopped' });
      parentPort!.close();
    });
  }
});
parentPort!.postMessage({ type: 'started' });
