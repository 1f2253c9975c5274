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
  /** The last answer, kept only with `preserveLastResponse` (Marathon writes `null` otherwise). */
  lastResponse: ProbeAnswer | null;
}

export interface ProbeAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** The most of an answer's body a probe keeps: Marathon keeps it whole; a task must not fill the framework's memory. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * One probe; resolves with the HTTP status (and, with `keepBody`, the first MAX_BODY_BYTES of the
 * body as UTF-8), or undefined on error or timeout.
 */
export function probe(url: string, timeoutMs: number, keepBody = false): Promise<ProbeAnswer | undefined> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      const answer = (body: string) => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body });
      if (!keepBody) {
        res.resume();
        answer('');
        return;
      }
      const chunks: Buffer[] = [];
      let kept = 0;
      const done = () => answer(Buffer.concat(chunks).toString('utf8'));
      res.on('data', (chunk: Buffer) => {
        if (kept >= MAX_BODY_BYTES) return;
        chunks.push(chunk.subarray(0, MAX_BODY_BYTES - kept));
        kept += Math.min(chunk.length, MAX_BODY_BYTES - kept);
        if (kept >= MAX_BODY_BYTES) {
          done();
          res.destroy();
        }
      });
      res.on('end', done);
      // A body cut short after its status line still answers with what arrived.
      res.on('error', done);
      res.on('close', done);
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
      void probe(url, check.timeoutSeconds * 1000, check.preserveLastResponse).then((answer) => {
        this.inFlight.delete(instance.taskId);
        const ready = answer !== undefined && check.httpStatusCodesForReady.includes(answer.status);
        this.results.set(instance.taskId, {
          name: check.name,
          taskId: instance.taskId,
          ready,
          lastResponse: answer && check.preserveLastResponse ? answer : null,
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
