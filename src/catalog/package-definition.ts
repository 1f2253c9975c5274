/**
 * A Universe package as Cosmos holds it: package.json's fields plus `releaseVersion`, `config`
 * (the options' JSON Schema), `resource`, `marathon.v2AppMustacheTemplate` (base64 of the mustache
 * file) and, for packaging 2.0/3.0, `command`. One shape for all packaging versions 2.0–5.0; what
 * a version forbids is refused with the field's path (universe's repo/meta/schema rules).
 */
import { CosmosError } from './errors.ts';

export const PACKAGING_VERSIONS = ['2.0', '3.0', '4.0', '5.0'] as const;
export type PackagingVersion = (typeof PACKAGING_VERSIONS)[number];

export interface PackageDefinition {
  packagingVersion: PackagingVersion;
  name: string;
  version: string;
  releaseVersion: number;
  maintainer: string;
  description: string;
  tags: string[];
  framework: boolean;
  selected: boolean;
  preInstallNotes?: string;
  postInstallNotes?: string;
  postUninstallNotes?: string;
  upgradesFrom?: string[];
  downgradesTo?: string[];
  minDcosReleaseVersion?: string;
  config?: Record<string, unknown>;
  resource?: Record<string, unknown>;
  marathon?: { v2AppMustacheTemplate: string };
  /** Everything else package.json had (scm, website, licenses, lastUpdated, ...), passed through to describe. */
  extra: Record<string, unknown>;
}

/** Bounds: a repository is data from the network; nothing in it may be unbounded. */
export const MAX_NAME = 64;
export const MAX_TEMPLATE_BYTES = 1024 * 1024;

const NAME = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;
const KNOWN = new Set([
  'packagingVersion',
  'name',
  'version',
  'releaseVersion',
  'maintainer',
  'description',
  'tags',
  'framework',
  'selected',
  'preInstallNotes',
  'postInstallNotes',
  'postUninstallNotes',
  'upgradesFrom',
  'downgradesTo',
  'minDcosReleaseVersion',
  'config',
  'resource',
  'marathon',
  'command',
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(where: string, reason: string): CosmosError {
  return new CosmosError('InvalidPackage', `Package is not valid: ${where}: ${reason}`, 400, { errors: [{ path: where, errors: [reason] }] });
}

function str(o: Record<string, unknown>, key: string, where: string, required: boolean, max = 64 * 1024): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string') throw bad(`${where}/${key}`, required && v === undefined ? 'is required' : 'must be a string');
  if (v.length > max) throw bad(`${where}/${key}`, `longer than ${max} characters`);
  return v;
}

function strings(o: Record<string, unknown>, key: string, where: string, required: boolean): string[] | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (!Array.isArray(v) || v.length > 1000 || v.some((s) => typeof s !== 'string' || s.length > 256)) throw bad(`${where}/${key}`, 'must be an array of strings');
  return v as string[];
}

/**
 * One package of a repository (`where` is its JSON pointer there, for errors). `allowed` are the
 * packaging versions the repository's format admits (v3: 2.0/3.0, v4: up to 4.0, v5: up to 5.0).
 */
export function parsePackage(raw: unknown, where: string, allowed: readonly PackagingVersion[] = PACKAGING_VERSIONS): PackageDefinition {
  if (!isObject(raw)) throw bad(where, 'must be an object');
  const packagingVersion = raw['packagingVersion'];
  if (typeof packagingVersion !== 'string' || !(PACKAGING_VERSIONS as readonly string[]).includes(packagingVersion))
    throw bad(`${where}/packagingVersion`, `must be one of ${PACKAGING_VERSIONS.join(', ')}`);
  const pv = packagingVersion as PackagingVersion;
  if (!allowed.includes(pv)) throw bad(`${where}/packagingVersion`, `${pv} is not allowed in this repository format (${allowed.join(', ')})`);
  const name = str(raw, 'name', where, true, MAX_NAME) as string;
  if (!NAME.test(name)) throw bad(`${where}/name`, 'must be lowercase letters, digits and "-"');
  const releaseVersion = raw['releaseVersion'] ?? 0;
  if (typeof releaseVersion !== 'number' || !Number.isInteger(releaseVersion) || releaseVersion < 0) throw bad(`${where}/releaseVersion`, 'must be a non-negative integer');
  const config = raw['config'];
  if (config !== undefined && !isObject(config)) throw bad(`${where}/config`, 'must be a JSON Schema object');
  const resource = raw['resource'];
  if (resource !== undefined && !isObject(resource)) throw bad(`${where}/resource`, 'must be an object');
  const marathon = raw['marathon'];
  let template: string | undefined;
  if (marathon !== undefined) {
    if (!isObject(marathon) || typeof marathon['v2AppMustacheTemplate'] !== 'string') throw bad(`${where}/marathon/v2AppMustacheTemplate`, 'must be a base64 string');
    template = marathon['v2AppMustacheTemplate'];
    if (template.length > (MAX_TEMPLATE_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9+/=\r\n]*$/.test(template)) throw bad(`${where}/marathon/v2AppMustacheTemplate`, 'must be base64 of at most 1 MiB');
  } else if (pv === '2.0') throw bad(`${where}/marathon`, 'is required for packagingVersion 2.0');
  if (raw['command'] !== undefined && (pv === '4.0' || pv === '5.0')) throw bad(`${where}/command`, `is not allowed for packagingVersion ${pv}`);
  for (const key of ['upgradesFrom', 'downgradesTo'] as const) if (raw[key] !== undefined && (pv === '2.0' || pv === '3.0')) throw bad(`${where}/${key}`, `needs packagingVersion 4.0 or later`);
  for (const key of ['framework', 'selected'] as const) if (raw[key] !== undefined && typeof raw[key] !== 'boolean') throw bad(`${where}/${key}`, 'must be a boolean');
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!KNOWN.has(k)) extra[k] = v;
  const optional = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
  return {
    packagingVersion: pv,
    name,
    version: str(raw, 'version', where, true, 256) as string,
    releaseVersion,
    maintainer: str(raw, 'maintainer', where, true, 1024) as string,
    description: str(raw, 'description', where, true) as string,
    tags: strings(raw, 'tags', where, true) as string[],
    framework: raw['framework'] === true,
    selected: raw['selected'] === true,
    ...optional('preInstallNotes', str(raw, 'preInstallNotes', where, false)),
    ...optional('postInstallNotes', str(raw, 'postInstallNotes', where, false)),
    ...optional('postUninstallNotes', str(raw, 'postUninstallNotes', where, false)),
    ...optional('upgradesFrom', strings(raw, 'upgradesFrom', where, false)),
    ...optional('downgradesTo', strings(raw, 'downgradesTo', where, false)),
    ...optional('minDcosReleaseVersion', str(raw, 'minDcosReleaseVersion', where, false, 32)),
    ...optional('config', config as Record<string, unknown> | undefined),
    ...optional('resource', resource as Record<string, unknown> | undefined),
    ...(template === undefined ? {} : { marathon: { v2AppMustacheTemplate: template } }),
    extra,
  };
}

/** The package as Cosmos' describe answers it (package.json fields + config, resource, marathon). */
export function packageJson(p: PackageDefinition): Record<string, unknown> {
  const { extra, ...rest } = p;
  return { ...rest, ...extra };
}

/** The mustache template's text. */
export function templateOf(p: PackageDefinition): string | undefined {
  return p.marathon === undefined ? undefined : Buffer.from(p.marathon.v2AppMustacheTemplate, 'base64').toString('utf8');
}

/** Semver-ish ordering for "the newest version": by releaseVersion, as Cosmos picks the latest. */
export function newest(packages: readonly PackageDefinition[]): PackageDefinition | undefined {
  let best: PackageDefinition | undefined;
  for (const p of packages) if (best === undefined || p.releaseVersion > best.releaseVersion) best = p;
  return best;
}
