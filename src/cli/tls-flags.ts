/**
 * `drover dev|master` TLS flags. On by default: the port serves HTTPS with a certificate of the
 * cluster CA (or the operator's `--tls-cert/--tls-key`) and plain HTTP only to loopback peers, so
 * clients on the same machine keep working; `--require-https` refuses plain HTTP everywhere;
 * `--tls off` serves plain HTTP only (said loudly).
 */
import { readFile } from 'node:fs/promises';
import type { TlsOptions } from '../cluster/master.ts';

export const TLS_FLAGS = {
  tls: {
    type: 'string',
    default: 'on',
    choices: ['on', 'off'],
    describe: "HTTPS with the cluster CA's certificate on the API port (plain HTTP still answered on loopback unless --require-https)",
  },
  'require-https': { type: 'boolean', default: false, describe: 'Refuse plain HTTP, even from this machine' },
  'tls-cert': { type: 'string', describe: "The operator's server certificate (PEM) instead of one the cluster CA issues (with --tls-key)" },
  'tls-key': { type: 'string', describe: 'The private key (PEM) of --tls-cert' },
} as const;

export interface TlsArgs {
  tls: string;
  'require-https': boolean;
  'tls-cert'?: string;
  'tls-key'?: string;
}

export function tlsArgsProblem(args: TlsArgs): string | undefined {
  if ((args['tls-cert'] === undefined) !== (args['tls-key'] === undefined)) return '--tls-cert and --tls-key go together';
  if (args.tls === 'off' && (args['require-https'] || args['tls-cert'] !== undefined)) return '--require-https and --tls-cert need --tls on';
  return undefined;
}

export async function tlsOptions(args: TlsArgs): Promise<TlsOptions> {
  if (args.tls === 'off') return { mode: 'off' };
  const operator = args['tls-cert'] !== undefined && args['tls-key'] !== undefined ? { certPem: await readFile(args['tls-cert'], 'utf8'), keyPem: await readFile(args['tls-key'], 'utf8') } : {};
  return { mode: 'on', plain: args['require-https'] ? 'none' : 'loopback', ...operator };
}
