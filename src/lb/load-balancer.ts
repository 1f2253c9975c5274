/**
 * The load balancer's shell: follows `/v2/events`, re-reads `/v2/apps?embed=apps.tasks` after
 * each burst of events, computes the model and the config (pure: model.ts, config.ts, slots.ts),
 * and applies the difference to HAProxy — runtime commands when only servers changed, a reload
 * when the config's shape did.
 *
 * Kills: the services framework announces a kill decision (`drover_instance_draining_event`)
 * before its KILL, which goes after the app's drain time (`DROVER_DRAIN_SECONDS`). The LB takes
 * the task out of its backends on that event, or on the first other word of a kill
 * (`status_update_event` TASK_KILLING) — before any re-read. HAProxy still retries a request
 * refused by an instance that is already going (`retry-on conn-failure empty-response`,
 * redispatched) for apps without a drain time.
 */
import { lookup } from 'node:dns/promises';
import { access, mkdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createServer, isIP } from 'node:net';
import { join } from 'node:path';
import { fetchFollowing } from '../http/follow-redirects.ts';
import type { Logger } from '../log/index.ts';
import { type ConfigOptions, renderConfig, shapeOf, type SlotTable } from './config.ts';
import { DRAINING_EVENT, followEvents } from './event-stream.ts';
import { HaproxyProcess } from './haproxy-process.ts';
import { buildModel, type LbModel, type MarathonApp, parseCerts } from './model.ts';
import { runCommands } from './runtime-api.ts';
import { compactTables, drainTask, planSlots, slotName } from './slots.ts';

export interface LoadBalancerOptions {
  /** The master (or any master of an HA set): its /v2 API. */
  master: string;
  token: string | undefined;
  groups: string[];
  /** marathon-lb's `--strict-mode`: only ports labelled HAPROXY_{n}_ENABLED=true are served. */
  strictMode?: boolean;
  /** Address of service-port frontends (HAPROXY_{n}_BIND_ADDR overrides) and the vhost/app-id ones. */
  bindAddr: string;
  httpPort: number;
  httpsPort: number;
  appIdPort: number;
  /** Where HAProxy's config and admin socket live. */
  workDir: string;
  haproxyBin: string;
  /** Slots a backend has at least. */
  minSlots: number;
  maxconn: number;
  logger: Logger;
}

/** States a status update may carry that mean the task is going away. */
const GOING = new Set([
  'TASK_KILLING',
  'TASK_KILLED',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_LOST',
  'TASK_ERROR',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNREACHABLE',
  'TASK_UNKNOWN',
]);
/** At most this many distinct agent hosts are resolved per re-read. */
const MAX_HOSTS = 10_000;

export class LoadBalancer {
  private haproxy: HaproxyProcess | undefined;
  private tables = new Map<string, SlotTable>();
  private shape = '';
  private readonly draining = new Set<string>();
  /** Freed slots whose old task still lives (slots.ts: not reused before it is gone), oldest first. */
  private readonly cooling = new Map<string, string>();
  private running: Promise<void> | undefined;
  private again = false;
  private stream: { stop(): void } | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly hostIps = new Map<string, string>();
  /** What the LB serves now (`/_haproxy_getconfig`). */
  config = '';
  model: LbModel = { services: [], refused: [] };
  /** The last failure to apply (a refused config, HAProxy gone), cleared by the next success. */
  lastError: string | undefined;
  /** How many times the runtime API changed servers without a reload. */
  runtimeUpdates = 0;

  private constructor(private readonly options: LoadBalancerOptions) {}

  static async start(options: LoadBalancerOptions): Promise<LoadBalancer> {
    const lb = new LoadBalancer(options);
    await mkdir(options.workDir, { recursive: true, mode: 0o700 });
    // HAProxy starts with no apps: the admin endpoints answer at once, the first re-read fills it.
    lb.config = renderConfig(lb.model, lb.tables, lb.configOptions());
    lb.haproxy = await HaproxyProcess.start(lb.haproxyOptions(), lb.config);
    lb.shape = shapeOf(lb.model, new Map(), lb.configOptions());
    lb.stream = followEvents({ master: options.master, token: options.token, logger: options.logger, onEvent: (e) => lb.onEvent(e) });
    return lb;
  }

  get socketPath(): string {
    return join(this.options.workDir, 'haproxy.sock');
  }

  get reloads(): number {
    return this.haproxy?.reloads ?? 0;
  }

  masterPid(): number | undefined {
    return this.haproxy?.masterPid;
  }

  workerPid(): Promise<number> {
    if (!this.haproxy) return Promise.reject(new Error('HAProxy is not running'));
    return this.haproxy.workerPid();
  }

  private configOptions(): ConfigOptions {
    const o = this.options;
    return { socketPath: this.socketPath, httpPort: o.httpPort, httpsPort: o.httpsPort, appIdPort: o.appIdPort, bindAddr: o.bindAddr, maxconn: o.maxconn };
  }

  private haproxyOptions() {
    return { bin: this.options.haproxyBin, configPath: join(this.options.workDir, 'haproxy.cfg'), socketPath: this.socketPath, logger: this.options.logger };
  }

  private onEvent(event: Record<string, unknown>): void {
    if (event['eventType'] === DRAINING_EVENT && typeof event['taskId'] === 'string') {
      this.drain(event['taskId']);
    } else if (event['eventType'] === 'status_update_event' && typeof event['taskId'] === 'string' && GOING.has(String(event['taskStatus']))) {
      this.drain(event['taskId']);
    } else if (event['eventType'] === 'status_update_event' && event['taskStatus'] === 'TASK_RUNNING' && typeof event['taskId'] === 'string') {
      // An unreachable task that came back takes traffic again.
      this.draining.delete(event['taskId']);
    }
    this.sync();
  }

  /** Take a going task out of its backends now, without waiting for a re-read. */
  private drain(taskId: string): void {
    if (this.draining.has(taskId) || this.draining.size > 100_000) return;
    this.draining.add(taskId);
    const { tables, commands, freed } = drainTask(this.tables, taskId);
    if (commands.length === 0) return;
    this.tables = tables;
    for (const [slot, task] of freed) this.cooling.set(slot, task);
    runCommands(this.socketPath, commands).then(
      () => this.options.logger.info({ taskId }, 'lb-drained-task'),
      (e: unknown) => this.options.logger.warn({ err: e, taskId }, 'lb-drain-failed'),
    );
  }

  /** Re-read and apply; calls during a run make one more run after it (bursts coalesce). */
  sync(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.syncOnce();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async syncOnce(): Promise<void> {
    try {
      const apps = await this.readApps();
      const known = new Set(apps.flatMap((a) => (a.tasks ?? []).map((t) => t.id)));
      for (const id of this.draining) if (!known.has(id)) this.draining.delete(id);
      for (const [slot, id] of this.cooling) if (!known.has(id)) this.cooling.delete(slot);
      const visible = apps.map((a) => ({ ...a, tasks: (a.tasks ?? []).filter((t) => !this.draining.has(t.id)) }));
      await this.resolveHosts(visible);
      const model = buildModel(visible, {
        groups: this.options.groups,
        ...(this.options.strictMode === true ? { strictMode: true } : {}),
        bindAddr: this.options.bindAddr,
        reservedPorts: [this.options.httpPort, this.options.httpsPort, this.options.appIdPort].filter((p) => p > 0),
        hostIps: this.hostIps,
      });
      await this.refuseMissingCerts(model);
      await this.refuseBusyPorts(model);
      await this.apply(model);
      this.lastError = undefined;
      if (this.retry) clearTimeout(this.retry);
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      this.options.logger.error({ err: e }, 'lb-apply-failed');
      // Tried again on the next event, or in 5 s (a port that was busy may be free by then).
      if (this.retry) clearTimeout(this.retry);
      this.retry = setTimeout(() => this.sync(), 5000);
      this.retry.unref();
    }
  }

  private async apply(model: LbModel): Promise<void> {
    const o = this.configOptions();
    const plan = planSlots(this.tables, model, this.cooling);
    const counts = new Map([...plan.tables].map(([b, t]) => [b, t.length]));
    if (plan.overflow.length === 0 && shapeOf(model, counts, o) === this.shape) {
      try {
        await runCommands(this.socketPath, plan.commands);
        this.tables = plan.tables;
        for (const [slot] of plan.freed) this.cooling.delete(slot);
        for (const [slot, task] of plan.freed) this.cooling.set(slot, task);
        // A cooling slot taken again (none clean was left) cools no more.
        for (const [backend, table] of plan.tables) table.forEach((v, k) => v !== null && this.cooling.delete(slotName(backend, k)));
        this.model = model;
        this.config = renderConfig(model, this.tables, o);
        if (plan.commands.length > 0) this.runtimeUpdates++;
        return;
      } catch (e) {
        // HAProxy's servers are not what we think: write them all out and reload.
        this.options.logger.warn({ err: e }, 'lb-runtime-update-failed');
      }
    }
    const tables = compactTables(model, this.tables, this.options.minSlots);
    const config = renderConfig(model, tables, o);
    if (!this.haproxy) throw new Error('HAProxy is not running');
    await this.haproxy.reload(config);
    this.options.logger.info({ services: model.services.length, reloads: this.haproxy.reloads }, 'lb-reloaded');
    this.tables = tables;
    // New workers start with empty connection pools: no slot needs to cool.
    this.cooling.clear();
    this.model = model;
    this.config = config;
    this.shape = shapeOf(model, new Map([...tables].map(([b, t]) => [b, t.length])), o);
  }

  private async readApps(): Promise<MarathonApp[]> {
    const response = await fetchFollowing(`${this.options.master}/v2/apps?embed=apps.tasks`, {
      headers: this.options.token ? { authorization: `token=${this.options.token}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) throw new Error(`GET /v2/apps: HTTP ${response.status}`);
    const body = (await response.json()) as { apps?: unknown };
    if (!Array.isArray(body.apps)) throw new Error('GET /v2/apps: no apps array');
    return body.apps.filter((a): a is MarathonApp => typeof a === 'object' && a !== null && typeof (a as { id?: unknown }).id === 'string');
  }

  private async resolveHosts(apps: readonly MarathonApp[]): Promise<void> {
    const hosts = new Set<string>();
    for (const a of apps) for (const t of a.tasks ?? []) if (typeof t.host === 'string' && t.host.length <= 253) hosts.add(t.host);
    for (const host of [...hosts].slice(0, MAX_HOSTS)) {
      if (this.hostIps.has(host)) continue;
      if (isIP(host) !== 0) this.hostIps.set(host, host);
      else {
        try {
          this.hostIps.set(host, (await lookup(host)).address);
        } catch (e) {
          this.options.logger.warn({ err: e, host }, 'lb-host-unresolved');
        }
      }
    }
  }

  /** A certificate HAProxy cannot read would fail the whole config: its port is refused instead. */
  private async refuseMissingCerts(model: LbModel): Promise<void> {
    const keep = [];
    for (const s of model.services) {
      let missing: string | undefined;
      for (const c of s.sslCerts) {
        const ok =
          parseCerts(c).ok &&
          (await access(c, constants.R_OK).then(
            () => true,
            () => false,
          ));
        if (!ok) missing = c;
      }
      if (missing === undefined) keep.push(s);
      else model.refused.push({ appId: s.appId, label: `HAPROXY_${s.portIndex}_SSL_CERT`, reason: `cannot read ${missing}` });
    }
    model.services = keep;
  }

  /**
   * A service port something else holds would fail the reload (`haproxy -c` does not bind): a
   * port the running config does not bind yet is tried first, and refused if taken.
   */
  private async refuseBusyPorts(model: LbModel): Promise<void> {
    const bound = new Set(this.model.services.map((s) => `${s.bindAddr}|${s.servicePort}`));
    const keep = [];
    for (const s of model.services) {
      if (bound.has(`${s.bindAddr}|${s.servicePort}`) || (await canBind(s.bindAddr, s.servicePort))) keep.push(s);
      else model.refused.push({ appId: s.appId, label: `HAPROXY_${s.portIndex}_PORT`, reason: `service port ${s.servicePort} on ${s.bindAddr} is in use by another process` });
    }
    model.services = keep;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stream?.stop();
    if (this.retry) clearTimeout(this.retry);
    await this.running?.catch(() => undefined);
    await this.haproxy?.stop();
  }
}

/** Whether this process could listen on addr:port now (the socket is closed again at once). */
function canBind(addr: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: addr === '*' ? '0.0.0.0' : addr, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
