/**
 * Marathon's readiness checks: run by the framework (not the agent) against a new instance's
 * named port until the answer's status is one of `httpStatusCodesForReady`; until then the
 * instance does not count as healthy for a deployment, so old instances are not replaced early.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { App } from './app.ts';
import type { Instance } from './reconcile.ts';

export interface ReadinessResult {
  name: string;
  taskId: string;
  ready: boolean;
  lastResponse?: { status: number; contentType: string; body: string };
}

/** One probe; resolves with the HTTP status, or undefined on error or timeout. */
export function probe(url: string, timeoutMs: number): Promise<{ status: number; contentType: string } | undefined> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? '') });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

export class ReadinessChecks {
  /** taskId → when the next probe is due (ms). */
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  readonly results = new Map<string, ReadinessResult>();

  constructor(private readonly now: () => number) {}

  /** Probe every running, not-yet-ready instance whose turn has come; `onReady` when one passes. */
  run(app: App, instances: Instance[], onReady: (instance: Instance) => void): void {
    const check = app.readinessChecks?.[0];
    if (!check) return;
    const portIndex = app.portDefinitions.findIndex((p) => p.name === check.portName);
    for (const instance of instances) {
      if (instance.ready || instance.state !== 'TASK_RUNNING' || this.inFlight.has(instance.taskId)) continue;
      if ((this.due.get(instance.taskId) ?? 0) > this.now()) continue;
      const port = instance.ports[portIndex];
      if (port === undefined) continue;
      this.inFlight.add(instance.taskId);
      this.due.set(instance.taskId, this.now() + check.intervalSeconds * 1000);
      const url = `${check.protocol.toLowerCase()}://${instance.host}:${port}${check.path}`;
      void probe(url, check.timeoutSeconds * 1000).then((answer) => {
        this.inFlight.delete(instance.taskId);
        const ready = answer !== undefined && check.httpStatusCodesForReady.includes(answer.status);
        this.results.set(instance.taskId, {
          name: check.name,
          taskId: instance.taskId,
          ready,
          ...(answer ? { lastResponse: { status: answer.status, contentType: answer.contentType, body: '' } } : {}),
        });
        if (ready) {
          this.due.delete(instance.taskId);
          onReady(instance);
        }
      });
    }
  }

  forget(taskId: string): void {
    this.due.delete(taskId);
    this.inFlight.delete(taskId);
    this.results.delete(taskId);
  }
}
