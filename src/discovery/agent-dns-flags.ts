/** The agent resolver's flags (agent-dns.ts), light enough for the CLI to parse before anything loads. */
import { isIPv4 } from 'node:net';

/** Where an agent's resolver listens by default: a loopback address of its own, port 53 (resolv.conf has no port). */
export const DEFAULT_AGENT_DNS = '127.0.0.153:53';

/** `ADDR:PORT` (IPv4) → an upstream, or a reason. */
export function parseHostPort(text: string, what: string): { host: string; port: number } | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim().slice(0, 64));
  if (!m || !isIPv4(m[1]!)) return `${what} must be IPv4ADDR:PORT such as 127.0.0.153:53, got '${text.slice(0, 64)}'`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `${what}: the port must be from 1 to 65535, got ${port}`;
  return { host: m[1]!, port };
}
