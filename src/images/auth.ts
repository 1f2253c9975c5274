/**
 * Registry credentials: the `WWW-Authenticate` challenge of a registry (RFC 7235, as the
 * distribution token spec uses it) and the Docker `config.json` shape of a pull secret.
 *
 * Both arrive from outside (a registry's header, a user's secret), so both are bounded: a
 * challenge of at most 4 KiB scanned by hand, a config of at most 64 KiB and 256 entries.
 */
import { DroverError } from '../errors/errors.ts';
import { DOCKER_HUB } from './reference.ts';

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

const MAX_CHALLENGE = 4096;

/**
 * The first Bearer or Basic challenge of a `WWW-Authenticate` header:
 * `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"`.
 * Returns undefined for anything else (or a header too long to be honest).
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined || header.length > MAX_CHALLENGE) return undefined;
  const text = header.trim();
  const space = text.indexOf(' ');
  const scheme = (space === -1 ? text : text.slice(0, space)).toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  let i = space === -1 ? text.length : space + 1;
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === ',')) i++;
    const eq = text.indexOf('=', i);
    if (eq === -1) break;
    const key = text.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = '';
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      i++;
    } else {
      const end = text.indexOf(',', i);
      value = text.slice(i, end === -1 ? text.length : end).trim();
      i = end === -1 ? text.length : end;
    }
    if (key.length > 0 && key.length <= 64) params[key] = value;
  }
  return { scheme, params };
}

export interface Credentials {
  username: string;
  password: string;
}

/** A Docker `config.json`: `{"auths":{"host":{"auth":"base64(user:pass)"} | {"username","password"}}}`. */
export type DockerConfig = Record<string, Credentials>;

const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_CONFIG_ENTRIES = 256;

function configError(reason: string, path = '/auths'): DroverError {
  return new DroverError('VALIDATION', `pull secret is not a Docker config.json: ${reason}`, { details: [{ path, errors: [reason] }] });
}

/** Normalises a config.json key (`https://index.docker.io/v1/`, `registry:5000`, `http://host/`) to a registry name. */
export function registryKey(key: string): string {
  let host = key.trim().toLowerCase();
  if (host.startsWith('https://')) host = host.slice(8);
  else if (host.startsWith('http://')) host = host.slice(7);
  const slash = host.indexOf('/');
  if (slash !== -1) host = host.slice(0, slash);
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return DOCKER_HUB;
  return host;
}

/** Parses a pull secret (the text of a Docker config.json) into credentials by registry name. */
export function parseDockerConfig(text: string): DockerConfig {
  if (text.length > MAX_CONFIG_BYTES) throw configError(`larger than ${MAX_CONFIG_BYTES} bytes`, '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw configError('not JSON', '');
  }
  const auths = (json as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw configError("'auths' must be an object");
  const entries = Object.entries(auths as Record<string, unknown>);
  if (entries.length > MAX_CONFIG_ENTRIES) throw configError(`more than ${MAX_CONFIG_ENTRIES} registries`);
  const config: DockerConfig = {};
  for (const [key, value] of entries) {
    const path = `/auths/${key.slice(0, 80)}`;
    const entry = value as { auth?: unknown; username?: unknown; password?: unknown } | null;
    if (typeof entry !== 'object' || entry === null) throw configError('must be an object', path);
    if (typeof entry.auth === 'string' && entry.auth.length > 0) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) throw configError("'auth' must be base64 of user:password", `${path}/auth`);
      config[registryKey(key)] = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      config[registryKey(key)] = { username: entry.username, password: entry.password };
    }
    // Entries with neither (e.g. only `identitytoken` or a credential helper) give no credentials here.
  }
  return config;
}

export function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}
