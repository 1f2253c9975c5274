/**
 * Mesos-DNS' HTTP interface (docs/docs/http.md) on the master's server: `/v1/version`,
 * `/v1/config`, `/v1/hosts/{host}` (A records) and `/v1/services/{service}` (SRV with the
 * target's address). Names are bounded (253 characters, DNS characters only) before they are looked up.
 * Like Mesos-DNS, a name without records answers one empty entry.
 */
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../errors/errors.ts';
import { MAX_NAME } from './names.ts';
import type { Zone } from './zone.ts';

export interface DnsHttpInfo {
  zone: Zone;
  domain: string;
  version: string;
  /** Mesos-DNS' config keys, as far as they mean something here. */
  config: () => Record<string, unknown>;
}

const NAME = /^[a-z0-9_.-]+$/;

function nameParam(raw: unknown, where: string): string {
  const text = typeof raw === 'string' ? raw.toLowerCase().replace(/\.$/, '') : '';
  if (text === '' || text.length > MAX_NAME || !NAME.test(text)) {
    throw new DroverError('VALIDATION', `Invalid name: ${where}`, { details: [{ path: where, errors: [`a DNS name of at most ${MAX_NAME} characters (letters, digits, '-', '_', '.')`] }] });
  }
  return text;
}

export function registerDnsHttpRoutes(app: FastifyInstance, info: DnsHttpInfo): void {
  app.get('/v1/version', async () => ({ Service: 'Mesos-DNS', URL: 'https://github.com/drover/drover (src/discovery)', Version: info.version }));
  app.get('/v1/config', async () => info.config());
  // Wildcards, not `:name`: a parameter is cut at Fastify's 100 characters, names go to 253.
  app.get('/v1/hosts/*', async (request) => {
    const host = nameParam((request.params as { '*'?: unknown })['*'], '/host');
    const ips = info.zone.lookup(host)?.a ?? [];
    if (ips.length === 0) return [{ host: '', ip: '' }];
    return ips.map((ip) => ({ host: `${host}.`, ip }));
  });
  app.get('/v1/services/*', async (request) => {
    const service = nameParam((request.params as { '*'?: unknown })['*'], '/service');
    const out: Array<{ service: string; host: string; ip: string; port: string }> = [];
    for (const r of info.zone.lookup(service)?.srv ?? []) {
      for (const ip of info.zone.lookup(r.target)?.a ?? []) out.push({ service: `${service}.`, host: `${r.target}.`, ip, port: String(r.port) });
    }
    return out.length > 0 ? out : [{ service: '', host: '', ip: '', port: '' }];
  });
}
