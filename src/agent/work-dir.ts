/**
 * The layout of an agent's work dir — the one folder that is the agent's whole state:
 *
 *   <workDir>/meta/agent.json                                  the agent id the master gave us
 *   <workDir>/meta/frameworks/<fw>/tasks/<task>/task.json      TaskInfo, framework, container, state
 *   <workDir>/meta/frameworks/<fw>/tasks/<task>/updates.json   unacknowledged status updates, in order
 *   <workDir>/slaves/<agentId>/frameworks/<fw>/executors/<task>/runs/<containerId>/   the sandbox
 *
 * The sandbox path is Mesos' (tools that know Mesos find stdout/stderr where they expect them);
 * `meta/` is ours. Ids come from frameworks, so every id becomes a path segment through
 * `pathSegment`, which can never produce '.', '..', a '/' or a name longer than NAME_MAX.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

/** Longest segment we emit; NAME_MAX is 255 bytes, and temp files append a suffix. */
const MAX_SEGMENT = 200;
const PLAIN = /^[A-Za-z0-9_.@+=-]+$/;

/**
 * A filesystem-safe, injective spelling of an id. Plain ids (the common case, e.g. Marathon's
 * `prod_web.instance-…`) stay readable; anything else is percent-encoded; overlong results are
 * replaced by a hash, which stays unique because the full id is also stored inside the checkpoint.
 */
export function pathSegment(id: string): string {
  // '%' alone is no percent-encoding of anything, so it cannot collide with another id.
  if (id === '') return '%';
  let segment = PLAIN.test(id) && id !== '.' && id !== '..' ? id : encodeURIComponent(id).replaceAll('.', '%2E');
  // '%' never appears in a plain id, so encoded and plain spellings cannot collide.
  if (segment.length > MAX_SEGMENT) {
    segment = `%sha256-${createHash('sha256').update(id).digest('hex')}`;
  }
  return segment;
}

export class WorkDirLayout {
  readonly root: string;

  constructor(workDir: string) {
    this.root = resolve(workDir);
  }

  get metaDir(): string {
    return join(this.root, 'meta');
  }

  get agentMetaFile(): string {
    return join(this.metaDir, 'agent.json');
  }

  /** The agent's own credential from the master (mode 600; meta/ is never served by /files). */
  get agentTokenFile(): string {
    return join(this.metaDir, 'agent-token');
  }

  /** The agent's TLS key (mode 600) and the certificate the cluster CA issued for it (TLS bootstrap). */
  get agentKeyFile(): string {
    return join(this.metaDir, 'agent-key.pem');
  }

  get agentCertFile(): string {
    return join(this.metaDir, 'agent-cert.pem');
  }

  /** The CA certificates the master last told this agent to trust (a CA rotation; 018-ca-rotation.md). */
  get masterCaBundleFile(): string {
    return join(this.metaDir, 'master-ca-bundle.pem');
  }

  get frameworksMetaDir(): string {
    return join(this.metaDir, 'frameworks');
  }

  taskMetaDir(frameworkId: string, taskId: string): string {
    return join(this.frameworksMetaDir, pathSegment(frameworkId), 'tasks', pathSegment(taskId));
  }

  taskFile(frameworkId: string, taskId: string): string {
    return join(this.taskMetaDir(frameworkId, taskId), 'task.json');
  }

  updatesFile(frameworkId: string, taskId: string): string {
    return join(this.taskMetaDir(frameworkId, taskId), 'updates.json');
  }

  /** Mesos' executor run directory; the command executor's task id is its executor id. */
  sandbox(agentId: string, frameworkId: string, taskId: string, containerId: string): string {
    return join(this.root, 'slaves', pathSegment(agentId), 'frameworks', pathSegment(frameworkId), 'executors', pathSegment(taskId), 'runs', pathSegment(containerId));
  }
}
