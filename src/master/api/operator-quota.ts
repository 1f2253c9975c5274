/**
 * Roles, weights and quota on the operator APIs, in Mesos' shapes:
 * - v1 (`POST /api/v1`): GET_ROLES, GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA, UPDATE_QUOTA (Mesos
 *   1.9+ QuotaConfig: guarantees and limits), and the older SET_QUOTA / REMOVE_QUOTA (a 1.9
 *   master turns a SET_QUOTA guarantee into guarantees = limits, as here);
 * - v0: `GET /master/roles`, `GET /master/quota`, `GET|PUT /master/weights`.
 *
 * Every input is checked whole before anything changes; a bad one is a 400 naming the field
 * (`/update_quota/quota_configs/0/limits/cpus`). Changes are stored (allocator/role-config.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DroverError, type ErrorDetail } from '../../errors/errors.ts';
import { DEFAULT_ROLE, Resources } from '../../resources/index.ts';
import type { RoleQuota } from '../allocator/quota.ts';
import { QUOTA_RESOURCES } from '../allocator/role-config.ts';
import type { Master } from '../master.ts';
import { legacyResources } from '../views.ts';
import { mesosGet } from './json-alias.ts';

export const QUOTA_CALLS = ['GET_ROLES', 'GET_WEIGHTS', 'UPDATE_WEIGHTS', 'GET_QUOTA', 'UPDATE_QUOTA', 'SET_QUOTA', 'REMOVE_QUOTA'] as const;
export type QuotaCall = (typeof QUOTA_CALLS)[number];

/** Configs or weights in one call, at most (one store transaction holds them). */
const MAX_PER_CALL = 100;
const MAX_ROLE_LENGTH = 256;
/** Mesos caps nothing here; a bound keeps a typo (1e300) out of the allocator's arithmetic. */
const MAX_AMOUNT = 1e12;

export function isQuotaCall(type: unknown): type is QuotaCall {
  return typeof type === 'string' && (QUOTA_CALLS as readonly string[]).includes(type);
}

/** Mesos' role name rules (roles.cpp): no '.', '..', leading '-', empty segments, whitespace or backslash. */
export function roleProblem(role: unknown): string | undefined {
  if (typeof role !== 'string') return 'must be a string';
  if (role === '') return 'must not be empty';
  if (role.length > MAX_ROLE_LENGTH) return `must be at most ${MAX_ROLE_LENGTH} characters`;
  if (role === DEFAULT_ROLE) return undefined;
  for (const segment of role.split('/')) {
    if (segment === '') return "must not start or end with '/' or contain '//'";
    if (segment === '.' || segment === '..') return `must not contain a '${segment}' segment`;
    if (segment.startsWith('-')) return "a segment must not start with '-'";
    if (segment === DEFAULT_ROLE) return "'*' is only valid as the whole role";
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\u0000-\u001f\u007f\\]/.test(role)) return 'must not contain whitespace, control characters or backslashes';
  return undefined;
}

class Checker {
  readonly details: ErrorDetail[] = [];
  fail(path: string, error: string): void {
    this.details.push({ path, errors: [error] });
  }
  object(value: unknown, path: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    this.fail(path, value === undefined ? 'required for this call type' : 'must be an object');
    return undefined;
  }
  array(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) {
      this.fail(path, value === undefined ? 'required' : 'must be an array');
      return [];
    }
    if (value.length > MAX_PER_CALL) {
      this.fail(path, `at most ${MAX_PER_CALL} entries`);
      return [];
    }
    return value;
  }
  role(value: unknown, path: string, quota: boolean): string | undefined {
    const problem = roleProblem(value) ?? (quota && value === DEFAULT_ROLE ? "quota cannot be set for the default role '*'" : undefined);
    if (problem !== undefined) {
      this.fail(path, problem);
      return undefined;
    }
    return value as string;
  }
  amount(value: unknown, path: string): number | undefined {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_AMOUNT) {
      this.fail(path, `must be a number from 0 to ${MAX_AMOUNT}`);
      return undefined;
    }
    return value;
  }
  /** `{"cpus": {"value": 1}}` (v1's map<string, Value.Scalar>) → {cpus: 1}. */
  scalars(value: unknown, path: string): Map<string, number> {
    const out = new Map<string, number>();
    if (value === undefined) return out;
    const o = this.object(value, path);
    for (const [name, v] of Object.entries(o ?? {})) {
      const at = `${path}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (!(QUOTA_RESOURCES as readonly string[]).includes(name)) {
        this.fail(at, `not a quota resource (one of ${QUOTA_RESOURCES.join(', ')})`);
        continue;
      }
      const amount = this.amount(this.object(v, at)?.['value'], `${at}/value`);
      if (amount !== undefined) out.set(name, amount);
    }
    return out;
  }
  done(message: string): void {
    if (this.details.length > 0) throw new DroverError('MALFORMED', message, { details: this.details });
  }
}

/** Answers a roles/weights/quota call; the caller checked `isQuotaCall(body.type)`. */
export async function handleQuotaCall(master: Master, body: Record<string, unknown>, reply: FastifyReply): Promise<unknown> {
  const type = body['type'] as QuotaCall;
  switch (type) {
    case 'GET_ROLES':
      return { type, get_roles: { roles: roleViews(master).map(v1Role) } };
    case 'GET_WEIGHTS':
      return { type, get_weights: { weight_infos: weightInfos(master) } };
    case 'GET_QUOTA':
      return { type, get_quota: { status: quotaStatus(master) } };
    case 'UPDATE_WEIGHTS': {
      const c = new Checker();
      const update = c.object(body['update_weights'], '/update_weights');
      const weights = parseWeights(c, update?.['weight_infos'], '/update_weights/weight_infos');
      c.done('Failed to validate master::Call');
      await master.roleConfig.updateWeights(weights);
      master.scheduleAllocation();
      return reply.code(200).send();
    }
    case 'UPDATE_QUOTA': {
      const c = new Checker();
      const update = c.object(body['update_quota'], '/update_quota');
      const force = update?.['force'] === true;
      if (update?.['force'] !== undefined && typeof update['force'] !== 'boolean') c.fail('/update_quota/force', 'must be a boolean');
      const configs: Array<{ role: string; quota: RoleQuota }> = [];
      const seen = new Set<string>();
      c.array(update?.['quota_configs'], '/update_quota/quota_configs').forEach((raw, i) => {
        const at = `/update_quota/quota_configs/${i}`;
        const o = c.object(raw, at);
        if (o === undefined) return;
        const role = c.role(o['role'], `${at}/role`, true);
        const guarantees = c.scalars(o['guarantees'], `${at}/guarantees`);
        const limits = c.scalars(o['limits'], `${at}/limits`);
        for (const [name, g] of guarantees) {
          const l = limits.get(name);
          if (l !== undefined && g > l) c.fail(`${at}/guarantees/${name}`, `guarantee ${g} is above the limit ${l}`);
        }
        if (role === undefined) return;
        if (seen.has(role)) c.fail(`${at}/role`, `role '${role}' appears more than once`);
        seen.add(role);
        configs.push({ role, quota: { guarantees, limits } });
      });
      c.done('Failed to validate master::Call');
      if (!force) checkAgainstCluster(master, configs, '/update_quota/quota_configs');
      await master.roleConfig.updateQuotas(configs);
      master.scheduleAllocation();
      return reply.code(200).send();
    }
    case 'SET_QUOTA': {
      const c = new Checker();
      const request = c.object(c.object(body['set_quota'], '/set_quota')?.['quota_request'], '/set_quota/quota_request');
      const role = c.role(request?.['role'], '/set_quota/quota_request/role', true);
      const guarantee = new Map<string, number>();
      c.array(request?.['guarantee'], '/set_quota/quota_request/guarantee').forEach((raw, i) => {
        const at = `/set_quota/quota_request/guarantee/${i}`;
        const r = c.object(raw, at);
        if (r === undefined) return;
        if (!(QUOTA_RESOURCES as readonly string[]).includes(String(r['name']))) return c.fail(`${at}/name`, `not a quota resource (one of ${QUOTA_RESOURCES.join(', ')})`);
        if (r['role'] !== undefined && r['role'] !== DEFAULT_ROLE) return c.fail(`${at}/role`, 'a quota guarantee is unreserved');
        const amount = c.amount(c.object(r['scalar'], `${at}/scalar`)?.['value'], `${at}/scalar/value`);
        if (amount !== undefined) guarantee.set(String(r['name']), (guarantee.get(String(r['name'])) ?? 0) + amount);
      });
      c.done('Failed to validate master::Call');
      if (master.roleConfig.quotas.has(role!)) throw new DroverError('CONFLICT', `Quota for role '${role}' already exists; remove it or use UPDATE_QUOTA`);
      // Mesos 1.9+: a SET_QUOTA guarantee is both the guarantee and the limit.
      const configs = [{ role: role!, quota: { guarantees: guarantee, limits: new Map(guarantee) } }];
      if (request?.['force'] !== true) checkAgainstCluster(master, configs, '/set_quota/quota_request');
      await master.roleConfig.updateQuotas(configs);
      master.scheduleAllocation();
      return reply.code(200).send();
    }
    case 'REMOVE_QUOTA': {
      const c = new Checker();
      const role = c.role(c.object(body['remove_quota'], '/remove_quota')?.['role'], '/remove_quota/role', true);
      c.done('Failed to validate master::Call');
      if (!master.roleConfig.quotas.has(role!)) throw new DroverError('NOT_FOUND', `No quota for role '${role}'`);
      await master.roleConfig.updateQuotas([{ role: role!, quota: { guarantees: new Map(), limits: new Map() } }]);
      master.scheduleAllocation();
      return reply.code(200).send();
    }
  }
}

function parseWeights(c: Checker, raw: unknown, path: string): Array<{ role: string; weight: number }> {
  const out: Array<{ role: string; weight: number }> = [];
  c.array(raw, path).forEach((entry, i) => {
    const o = c.object(entry, `${path}/${i}`);
    if (o === undefined) return;
    const role = c.role(o['role'], `${path}/${i}/role`, false);
    const w = o['weight'];
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0 || w > MAX_AMOUNT) c.fail(`${path}/${i}/weight`, 'must be a positive number');
    else if (role !== undefined) out.push({ role, weight: w });
  });
  return out;
}

/**
 * Without `force`, as Mesos: the guarantees of all roles together must fit in the cluster, and a
 * new limit may not be below what the role consumes now. `force` skips both.
 */
function checkAgainstCluster(master: Master, configs: ReadonlyArray<{ role: string; quota: RoleQuota }>, path: string): void {
  const total = new Map<string, number>();
  for (const a of master.agents.values()) if (a.status === 'active' || a.status === 'recovering') for (const [name, m] of a.total.scalarMillis()) total.set(name, (total.get(name) ?? 0) + m / 1000);
  const guaranteed = new Map<string, number>();
  const changed = new Set(configs.map((c) => c.role));
  for (const [role, q] of master.roleConfig.quotas) if (!changed.has(role)) for (const [name, g] of q.guarantees) guaranteed.set(name, (guaranteed.get(name) ?? 0) + g);
  for (const { quota } of configs) for (const [name, g] of quota.guarantees) guaranteed.set(name, (guaranteed.get(name) ?? 0) + g);
  const details: ErrorDetail[] = [];
  for (const [name, g] of guaranteed) {
    const have = total.get(name) ?? 0;
    if (g > have + 1e-9) details.push({ path, errors: [`the guarantees of all roles (${name}: ${g}) exceed the cluster's total (${have}); use force to set them anyway`] });
  }
  const views = new Map(roleViews(master).map((v) => [v.name, v]));
  configs.forEach(({ role, quota }, i) => {
    const consumed = views.get(role)?.consumed;
    for (const [name, l] of quota.limits) {
      const now = (consumed?.scalarMillis().find(([n]) => n === name)?.[1] ?? 0) / 1000;
      if (l + 1e-9 < now) details.push({ path: `${path}/${i}/limits/${name}`, errors: [`the limit ${l} is below what role '${role}' consumes now (${now}); use force to set it anyway`] });
    }
  });
  if (details.length > 0) throw new DroverError('MALFORMED', 'Invalid QuotaConfig', { details });
}

interface RoleView {
  name: string;
  weight: number;
  frameworks: string[];
  allocated: Resources;
  offered: Resources;
  reserved: Resources;
  consumed: Resources;
  quota: RoleQuota | undefined;
}

/** Every role the master knows of: the default, those of frameworks, weights, quotas and reservations. */
export function roleViews(master: Master): RoleView[] {
  const names = new Set<string>([DEFAULT_ROLE]);
  const frameworks = new Map<string, string[]>();
  for (const f of master.frameworks.values()) {
    for (const r of f.roles) {
      names.add(r);
      frameworks.set(r, [...(frameworks.get(r) ?? []), f.id]);
    }
  }
  for (const r of master.roleConfig.weights.keys()) names.add(r);
  for (const r of master.roleConfig.quotas.keys()) names.add(r);
  const reserved = new Map<string, Resources>();
  for (const a of master.agents.values()) {
    if (a.status === 'unreachable') continue;
    for (const r of a.total.roles()) {
      if (r === DEFAULT_ROLE) continue;
      names.add(r);
      reserved.set(r, (reserved.get(r) ?? Resources.EMPTY).add(a.total.filterRole(r)));
    }
  }
  const allocated = new Map<string, Resources>();
  for (const roles of master.tasks.allocated().values()) for (const [r, res] of roles) allocated.set(r, (allocated.get(r) ?? Resources.EMPTY).add(res));
  const offered = new Map<string, Resources>();
  for (const o of master.offers.values()) offered.set(o.role, (offered.get(o.role) ?? Resources.EMPTY).add(o.resources));
  return [...names].sort().map((name) => {
    const a = (allocated.get(name) ?? Resources.EMPTY).add(offered.get(name) ?? Resources.EMPTY);
    const res = reserved.get(name) ?? Resources.EMPTY;
    return {
      name,
      weight: master.roleConfig.weightOf(name),
      frameworks: frameworks.get(name) ?? [],
      allocated: a,
      offered: offered.get(name) ?? Resources.EMPTY,
      reserved: res,
      // Mesos: consumed quota = reservations (used or not) + unreserved allocation.
      consumed: name === DEFAULT_ROLE ? a : a.filterRole(DEFAULT_ROLE).add(res).flatten(),
      quota: master.roleConfig.quotas.get(name),
    };
  });
}

const scalarMap = (m: ReadonlyMap<string, number>): Record<string, { value: number }> => Object.fromEntries([...m].map(([k, v]) => [k, { value: v }]));
const quantities = (r: Resources): Map<string, number> => new Map(r.scalarMillis().map(([n, m]) => [n, m / 1000]));

function v1Role(v: RoleView): Record<string, unknown> {
  return {
    name: v.name,
    weight: v.weight,
    frameworks: v.frameworks.map((value) => ({ value })),
    resources: v.allocated.toJSON(),
    allocated: v.allocated.toJSON(),
    offered: v.offered.toJSON(),
    reserved: v.reserved.toJSON(),
    quota: {
      role: v.name,
      guarantee: scalarMap(v.quota?.guarantees ?? new Map()),
      limit: scalarMap(v.quota?.limits ?? new Map()),
      consumed: scalarMap(quantities(v.consumed)),
    },
  };
}

function weightInfos(master: Master): Array<{ role: string; weight: number }> {
  return [...master.roleConfig.weights].sort(([a], [b]) => (a < b ? -1 : 1)).map(([role, weight]) => ({ role, weight }));
}

function quotaStatus(master: Master): Record<string, unknown> {
  const quotas = [...master.roleConfig.quotas].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    infos: quotas.map(([role, q]) => ({
      role,
      guarantee: [...q.guarantees].map(([name, value]) => ({ name, type: 'SCALAR', scalar: { value } })),
    })),
    configs: quotas.map(([role, q]) => ({ role, guarantees: scalarMap(q.guarantees), limits: scalarMap(q.limits) })),
  };
}

const plain = (m: ReadonlyMap<string, number>): Record<string, number> => Object.fromEntries(m);

/** `/master/roles`, `/master/quota`, `/master/weights` (Mesos' v0 JSON). */
export function registerQuotaRoutes(app: FastifyInstance, master: Master): void {
  mesosGet(app, '/master/roles', async () => ({
    roles: roleViews(master).map((v) => ({
      name: v.name,
      weight: v.weight,
      frameworks: v.frameworks,
      resources: legacyResources(v.allocated),
      allocated: legacyResources(v.allocated),
      offered: legacyResources(v.offered),
      reserved: legacyResources(v.reserved),
      quota: { role: v.name, guarantee: plain(v.quota?.guarantees ?? new Map()), limit: plain(v.quota?.limits ?? new Map()), consumed: plain(quantities(v.consumed)) },
    })),
  }));
  app.get('/master/quota', async () => quotaStatus(master));
  app.get('/master/weights', async () => weightInfos(master));
  app.put('/master/weights', async (request, reply) => {
    const c = new Checker();
    const weights = parseWeights(c, request.body, '');
    c.done('Invalid weights');
    await master.roleConfig.updateWeights(weights);
    master.scheduleAllocation();
    return reply.code(200).send();
  });
}
