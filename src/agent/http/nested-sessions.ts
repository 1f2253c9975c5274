/**
 * Mesos' nested container sessions on the agent's `POST /api/v1` (agent.proto; what `dcos task
 * exec` uses, dcos-core-cli pkg/mesos/taskio.go):
 *
 * - LAUNCH_NESTED_CONTAINER_SESSION `{container_id: {value, parent: {value}}, command}`: runs the
 *   command inside the parent's container (a running task, named by its container id or task id)
 *   and answers with its output as a RecordIO stream of ProcessIO records
 *   `{"type":"DATA","data":{"type":"STDOUT"|"STDERR","data":"<base64>"}}`, ending when the command
 *   exits. The session lasts as long as that response: the client going away kills the command
 *   (as Mesos destroys a session's container when its connection breaks).
 * - ATTACH_CONTAINER_INPUT: a streamed request (`Content-Type: application/recordio`) whose first
 *   record names the session's container and whose next records carry STDIN data (an empty one
 *   closes stdin) or CONTROL messages (heartbeats; TTY resizes are accepted and ignored: sessions
 *   run without a terminal).
 * - ATTACH_CONTAINER_OUTPUT `{container_id}`: another stream of the session's output from now on.
 *
 * Commands run through the agent's exec path (the containerizer's execArgv: the task's namespaces,
 * cgroups and user), so a session can do what `drover task exec` can and nothing more.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { decodeJsonRecords, encodeJsonRecord } from '../../protocol/recordio.ts';
import { compileValidator } from '../../protocol/validation.ts';
import type { ExecSpec } from '../exec/exec-session.ts';

const Id = Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }) });
const LaunchSession = compileValidator(
  Type.Object({
    container_id: Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }), parent: Id }),
    command: Type.Object({
      value: Type.Optional(Type.String({ maxLength: 65_536 })),
      shell: Type.Optional(Type.Boolean()),
      arguments: Type.Optional(Type.Array(Type.String({ maxLength: 65_536 }), { maxItems: 1024 })),
    }),
    container: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
);
const AttachOutput = compileValidator(Type.Object({ container_id: Id }));
const InputRecord = compileValidator(
  Type.Object({
    type: Type.Literal('ATTACH_CONTAINER_INPUT'),
    attach_container_input: Type.Object({
      type: Type.Enum(['CONTAINER_ID', 'PROCESS_IO']),
      container_id: Type.Optional(Id),
      process_io: Type.Optional(
        Type.Object({
          type: Type.Enum(['DATA', 'CONTROL']),
          data: Type.Optional(Type.Object({ type: Type.Enum(['STDIN', 'STDOUT', 'STDERR']), data: Type.Optional(Type.String()) })),
          control: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        }),
      ),
    }),
  }),
);

/** Sessions at once per agent: each holds a process and its pipes. */
const MAX_SESSIONS = 64;

interface Session {
  /** The task whose container the session runs in (its permission guards input and output). */
  taskId: string;
  child: ChildProcess;
  outputs: Set<ServerResponse>;
  inputAttached: boolean;
}

export interface LaunchRequest {
  id: string;
  /** The parent container: a running task's container id or task id. */
  parent: string;
  argv: string[];
}

function valid<T>(validator: { validate(v: unknown, m?: string): T }, value: unknown, what: string): T {
  try {
    return validator.validate(value, what);
  } catch (e) {
    if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
}

const processIo = (type: 'STDOUT' | 'STDERR', chunk: Buffer): Buffer => encodeJsonRecord({ type: 'DATA', data: { type, data: chunk.toString('base64') } });

function streamHeaders(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/recordio', 'message-content-type': 'application/json', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  response.flushHeaders();
}

export class NestedSessions {
  private readonly sessions = new Map<string, Session>();

  /** LAUNCH_NESTED_CONTAINER_SESSION's body, checked (before anything is started or streamed). */
  parseLaunch(body: unknown): LaunchRequest {
    const call = valid(LaunchSession, body, 'Failed to validate LAUNCH_NESTED_CONTAINER_SESSION');
    const id = call.container_id.value;
    if (this.sessions.has(id)) throw new DroverError('CONFLICT', `Container ${id} already exists`);
    if (this.sessions.size >= MAX_SESSIONS) throw new DroverError('OVERLOADED', `At most ${MAX_SESSIONS} nested container sessions at once`);
    const { value, shell, arguments: args } = call.command;
    const argv = shell === false ? (args !== undefined && args.length > 0 ? args : value === undefined ? [] : [value]) : ['/bin/sh', '-c', value ?? ''];
    if (argv.length === 0 || argv.join('').includes('\0'))
      throw new DroverError('MALFORMED', "'command' names nothing to run", { details: [{ path: '/launch_nested_container_session/command', errors: ['needs a value or arguments'] }] });
    return { id, parent: call.container_id.parent.value, argv };
  }

  /** Runs the session's command (`spec`: from the agent's exec path) and streams its output; resolves when it has exited. */
  async launch(id: string, taskId: string, spec: ExecSpec, response: ServerResponse): Promise<void> {
    if (this.sessions.has(id)) throw new DroverError('CONFLICT', `Container ${id} already exists`);
    const [file, ...rest] = spec.argv;
    // detached: a process group of its own, so the end of the session kills everything it started.
    const child = spawn(file!, rest, { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const session: Session = { taskId, child, outputs: new Set([response]), inputAttached: false };
    this.sessions.set(id, session);
    child.stdin?.on('error', () => undefined);
    streamHeaders(response);
    const send = (type: 'STDOUT' | 'STDERR') => (chunk: Buffer) => {
      for (const out of session.outputs) if (!out.destroyed) out.write(processIo(type, chunk));
    };
    child.stdout?.on('data', send('STDOUT'));
    child.stderr?.on('data', send('STDERR'));
    response.on('close', () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.sessions.delete(id);
        for (const out of session.outputs) if (!out.destroyed) out.end();
        resolve();
      };
      child.on('error', done);
      child.on('close', done);
    });
  }

  /** ATTACH_CONTAINER_OUTPUT's body: the session's container id and task (404 when no such session). */
  outputTarget(body: unknown): { id: string; taskId: string } {
    const id = valid(AttachOutput, body, 'Failed to validate ATTACH_CONTAINER_OUTPUT').container_id.value;
    return { id, taskId: this.session(id).taskId };
  }

  /** ATTACH_CONTAINER_OUTPUT: the session's output from now on, until it ends. */
  async attachOutput(id: string, response: ServerResponse): Promise<void> {
    const session = this.session(id);
    streamHeaders(response);
    session.outputs.add(response);
    await new Promise<void>((resolve) => response.on('close', resolve));
    session.outputs.delete(response);
  }

  /** ATTACH_CONTAINER_INPUT: reads the streamed request to its end (`authorize`: the caller on the session's task). */
  async attachInput(request: IncomingMessage, authorize: (taskId: string) => Promise<void>): Promise<void> {
    const records = decodeJsonRecords(request);
    const first = await records.next();
    if (first.done === true) throw new DroverError('MALFORMED', 'Expecting an ATTACH_CONTAINER_INPUT record naming the container');
    const head = valid(InputRecord, first.value, 'Failed to validate agent::Call');
    const id = head.attach_container_input.container_id?.value;
    if (head.attach_container_input.type !== 'CONTAINER_ID' || id === undefined) {
      throw new DroverError('MALFORMED', "The first ATTACH_CONTAINER_INPUT record must be of type CONTAINER_ID with 'container_id'");
    }
    const session = this.session(id);
    await authorize(session.taskId);
    if (session.inputAttached) throw new DroverError('CONFLICT', `Container ${id} already has its input attached`);
    session.inputAttached = true;
    try {
      for await (const record of records) {
        const io = valid(InputRecord, record, 'Failed to validate agent::Call').attach_container_input.process_io;
        if (io?.type !== 'DATA' || io.data?.type !== 'STDIN') continue; // heartbeats and TTY resizes
        const bytes = Buffer.from(io.data.data ?? '', 'base64');
        // An empty DATA record is EOF (Mesos' convention).
        if (bytes.length === 0) session.child.stdin?.end();
        else session.child.stdin?.write(bytes);
      }
    } finally {
      session.inputAttached = false;
    }
  }

  private session(id: string): Session {
    const session = this.sessions.get(id);
    if (session === undefined) throw new DroverError('NOT_FOUND', `Container ${id} not found`);
    return session;
  }

  /** The agent is closing: every session's command is killed. */
  close(): void {
    for (const { child } of this.sessions.values()) {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
