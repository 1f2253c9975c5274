/**
 * DNS helpers for the discovery tests: a port free for UDP and TCP (devkit/dns-port.ts), and the real `dig`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export { freeDnsPort } from '../../devkit/dns-port.ts';

const run = promisify(execFile);

export interface Dig {
  status: string;
  answers: Array<{ name: string; type: string; data: string }>;
  additional: Array<{ name: string; type: string; data: string }>;
}

/** `dig` against the dev cluster's DNS: the header status and the answer/additional sections. */
export async function digAt(dnsPort: number, name: string, type = 'A', tcp = false, server = '127.0.0.1'): Promise<Dig> {
  const args = [`@${server}`, '-p', String(dnsPort), name, type, '+noall', '+comments', '+answer', '+additional', '+time=5', '+tries=2', ...(tcp ? ['+tcp'] : [])];
  const { stdout } = await run('dig', args, { timeout: 30_000 });
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NONE';
  const records = (section: string) => {
    const out: Array<{ name: string; type: string; data: string }> = [];
    const start = stdout.indexOf(`;; ${section} SECTION:`);
    if (start === -1) return out;
    for (const line of stdout.slice(start).split('\n').slice(1)) {
      if (line.trim() === '' || line.startsWith(';;')) break;
      const parts = line.trim().split(/\s+/);
      out.push({ name: parts[0]!.replace(/\.$/, ''), type: parts[3]!, data: parts.slice(4).join(' ') });
    }
    return out;
  };
  return { status, answers: records('ANSWER'), additional: records('ADDITIONAL') };
}
