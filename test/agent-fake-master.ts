/**
 * A scripted stand-in for the master, for agent tests: a fastify server speaking the agent side
 * of src/protocol/mesos/agent-link.ts. It answers REGISTER with a RecordIO stream, lets a test push
 * LAUNCH/KILL/ACKNOWLEDGE events, records every call, and refuses stale-stream calls with 409 as
 * the real master does. It validates every call against the AgentCall schema, so an agent that
 * drifts from the contract fails here. It is a fixture, not the thing under test.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { AgentCall, AGENT_STREAM_HEADER, type AgentEvent, type AgentStatusUpdate } from '../src/protocol/mesos/agent-link.ts';
import type { FrameworkInfo, TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { encodeJsonRecord } from '../src/protocol/recordio.ts';
import { compileValidator } from '../src/protocol/validation.ts';

const callValidator = compileValidator(AgentCall);

export const FRAMEWORK: FrameworkInfo = { user: 'root', name: 'test-framework', id: { value: 'fw-1' } };

export interface TaskSpec {
  id: string;
  cmd: string;
  resources?: TaskInfo['resources'];
  killPolicyMs?: number;
  container?: TaskInfo['container'];
  healthCheck?: TaskInfo['health_check'];
}

export class FakeMaster {
  readonly registrations: AgentCall[] = [];
  readonly updates: AgentStatusUpdate[] = [];
  readonly invalidCalls: unknown[] = [];
  heartbeats = 0;
  /** UPDATE calls received (each carries a batch). */
  updateCalls = 0;
  /** The most updates one UPDATE call carried. */
  largestUpdateBatch = 0;
  /** Answer each UPDATE call only after this long (a busy master), so updates pile up behind it. */
  updateReplyDelayMs = 0;
  /** Acknowledge every update as soon as it arrives (a framework that acks promptly). */
  autoAck = true;
  private stream: { id: string; agentId: string; res: ServerResponse } | undefined;
  private agentCounter = 0;

  private constructor(
    private readonly app: FastifyInstance,
    readonly url: string,
  ) {}

  static async start(options: { port?: number; heartbeatIntervalSeconds?: number } = {}): Promise<FakeMaster> {
    const app = Fastify({ logger: false, forceCloseConnections: true });
    let master: FakeMaster | undefined;
    app.post('/api/v1/agent', async (request, reply) => master!.handle(request.body, request.headers[AGENT_STREAM_HEADER], reply));
    await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    master = new FakeMaster(app, `http://127.0.0.1:${port}`);
    master.heartbeatIntervalSeconds = options.heartbeatIntervalSeconds ?? 30;
    return master;
  }

  heartbeatIntervalSeconds = 30;

  get connected(): boolean {
    return this.stream !== undefined;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  push(event: AgentEvent): void {
    if (this.stream === undefined) throw new Error('no agent is connected');
    this.stream.res.write(encodeJsonRecord(event));
  }

  launch(tasks: TaskSpec[], framework: FrameworkInfo = FRAMEWORK): void {
    const agentId = this.stream?.agentId ?? 'none';
    const taskInfos: TaskInfo[] = tasks.map((t) => {
      const info: TaskInfo = {
        name: t.id,
        task_id: { value: t.id },
        agent_id: { value: agentId },
        resources: t.resources ?? [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } }],
        command: { value: t.cmd, shell: true },
      };
      if (t.container !== undefined) info.container = t.container;
      if (t.healthCheck !== undefined) info.health_check = t.healthCheck;
      if (t.killPolicyMs !== undefined) info.kill_policy = { grace_period: { nanoseconds: t.killPolicyMs * 1e6 } };
      return info;
    });
    this.push({ type: 'LAUNCH', launch: { framework_id: framework.id!, framework_info: framework, tasks: taskInfos } });
  }

  kill(taskId: string, frameworkId = FRAMEWORK.id!.value): void {
    this.push({ type: 'KILL', kill: { framework_id: { value: frameworkId }, task_id: { value: taskId } } });
  }

  ack(update: AgentStatusUpdate): void {
    this.push({
      type: 'ACKNOWLEDGE',
      acknowledge: { acknowledgements: [{ framework_id: update.framework_id, task_id: update.status.task_id, uuid: update.status.uuid! }] },
    });
  }

  /** Ends the current stream from the master's side (as a master failover would). */
  dropStream(): void {
    this.stream?.res.end();
    this.stream = undefined;
  }

  /** Makes the master forget the current stream id while keeping it open: calls now get 409. */
  forgetStreamId(): void {
    if (this.stream !== undefined) this.stream.id = 'forgotten';
  }

  /** Writes a raw record on the stream, valid or not. */
  pushRaw(record: unknown): void {
    if (this.stream === undefined) throw new Error('no agent is connected');
    this.stream.res.write(encodeJsonRecord(record));
  }

  /** Updates of one task, in arrival order (retries included). */
  updatesOf(taskId: string): AgentStatusUpdate[] {
    return this.updates.filter((u) => u.status.task_id.value === taskId);
  }

  statesOf(taskId: string): string[] {
    return this.updatesOf(taskId).map((u) => u.status.state);
  }

  /** Ends as soon as `check` holds; the default bound is for a loaded 2-core machine running the suite four files at a time. */
  async waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; updates so far: ${JSON.stringify(this.updates.map((u) => [u.status.task_id.value, u.status.state, u.status.message]))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits for an update of `taskId` in `state` and returns it. */
  update(taskId: string, state: string, timeoutMs?: number): Promise<AgentStatusUpdate> {
    return this.waitFor(() => this.updatesOf(taskId).find((u) => u.status.state === state), `${taskId} ${state}`, timeoutMs);
  }

  async close(): Promise<void> {
    this.dropStream();
    await this.app.close();
  }

  private handle(body: unknown, streamHeader: string | string[] | undefined, reply: import('fastify').FastifyReply): unknown {
    if (!callValidator.check(body)) {
      this.invalidCalls.push(body);
      return reply.code(400).send({ message: 'invalid call', details: callValidator.details(body) });
    }
    const call = body;
    if (call.type === 'REGISTER') {
      this.registrations.push(call);
      const agentId = call.agent_id?.value ?? `agent-${++this.agentCounter}`;
      const id = randomUUID();
      this.stream?.res.end();
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/recordio', [AGENT_STREAM_HEADER]: id });
      const stream = { id, agentId, res };
      this.stream = stream;
      res.on('close', () => {
        if (this.stream === stream) this.stream = undefined;
      });
      res.write(encodeJsonRecord({ type: 'REGISTERED', registered: { agent_id: { value: agentId }, heartbeat_interval_seconds: this.heartbeatIntervalSeconds, master_id: 'fake-master' } }));
      return undefined;
    }
    if (this.stream === undefined || streamHeader !== this.stream.id || call.agent_id?.value !== this.stream.agentId) {
      return reply.code(409).send({ message: 'stale stream; re-register' });
    }
    if (call.type === 'HEARTBEAT') this.heartbeats += 1;
    if (call.type === 'UPDATE') {
      this.updateCalls += 1;
      const updates = call.update?.updates ?? [];
      this.largestUpdateBatch = Math.max(this.largestUpdateBatch, updates.length);
      this.updates.push(...updates);
      if (this.autoAck) for (const u of updates) this.ack(u);
      if (this.updateReplyDelayMs > 0) {
        const delay = this.updateReplyDelayMs;
        return new Promise((resolve) => setTimeout(() => resolve(reply.code(202).send()), delay));
      }
    }
    return reply.code(202).send();
  }
}
