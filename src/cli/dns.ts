/**
 * `drover dns lookup NAME`: what discovery answers for a name — through the master's Mesos-DNS
 * HTTP interface (`/v1/hosts`, `/v1/services`) by default, or with `--server HOST:PORT` by asking
 * a DNS server (UDP, TCP if truncated; `--tcp` for TCP only).
 */
import { isIP } from 'node:net';
import type { Argv, CommandModule } from 'yargs';
import { CliError } from './client.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

type LookupArgs = ClientArgs & { name: string; type: string; server?: string; tcp?: boolean };

interface Row {
  name: string;
  type: string;
  value: string;
}

function server(text: string): { host: string; port: number } {
  // HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address.
  const t = text.slice(0, 64);
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(t);
  const colons = t.split(':').length - 1;
  const [host, portText] = bracketed ? [bracketed[1], bracketed[2]] : colons === 1 ? t.split(':') : [t, undefined];
  const port = portText === undefined ? 53 : Number(portText);
  const ip = host === 'localhost' ? '127.0.0.1' : host;
  if (ip === undefined || !isIP(ip) || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--server must be HOST[:PORT] with an IP address, got ${text}`);
  return { host: ip, port };
}

export function dnsCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'dns <command>',
    describe: 'Service discovery names (Mesos-DNS: web.marathon.mesos, _web._tcp.marathon.mesos, leader.mesos)',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command<LookupArgs>(
          'lookup <name>',
          'Show the records of a name (A; SRV for _service._proto names)',
          (b) =>
            b
              .positional('name', { type: 'string', demandOption: true, describe: 'e.g. web.marathon.mesos or _web._tcp.marathon.mesos' })
              .option('type', { type: 'string', choices: ['A', 'SRV', 'ANY'], describe: 'Record type (default: SRV for names starting with _, else A)' })
              .option('server', { type: 'string', describe: 'Ask this DNS server (HOST[:PORT]) instead of the master' })
              .option('tcp', { type: 'boolean', describe: 'With --server: over TCP' }) as Argv<LookupArgs>,
          async (a) => {
            const name = a.name.replace(/\.$/, '');
            if (name.length === 0 || name.length > 253) {
              process.stderr.write('drover dns lookup: a name of 1 to 253 characters\n');
              setExit(2);
              return;
            }
            const type = a.type ?? (name.startsWith('_') ? 'SRV' : 'A');
            if (a.server !== undefined) {
              try {
                const { lookup } = await import('../discovery/dns-client.ts');
                const answer = await lookup(server(a.server), name, type, { tcp: a.tcp === true });
                const rows: Row[] = answer.answers.map((r) => ({ name: r.name, type: r.type, value: value(r.type, r.data) }));
                print(a.json === true, answer, () =>
                  rows.length === 0
                    ? `${answer.rcode}\n`
                    : table(
                        ['NAME', 'TYPE', 'VALUE'],
                        rows.map((r) => [r.name, r.type, r.value]),
                      ),
                );
                if (rows.length === 0) setExit(1);
              } catch (e) {
                process.stderr.write(`drover dns lookup: ${(e as Error).message}\n`);
                setExit(1);
              }
              return;
            }
            await withClient(a, setExit, async (c) => {
              const encoded = encodeURIComponent(name);
              const rows: Row[] = [];
              if (type === 'A' || type === 'ANY') {
                for (const h of await c.get<Array<{ host: string; ip: string }>>(`/v1/hosts/${encoded}`)) if (h.ip) rows.push({ name: h.host, type: 'A', value: h.ip });
              }
              if (type === 'SRV' || type === 'ANY') {
                for (const s of await c.get<Array<{ service: string; host: string; ip: string; port: string }>>(`/v1/services/${encoded}`)) {
                  if (s.host) rows.push({ name: s.service, type: 'SRV', value: `${s.host}:${s.port} (${s.ip})` });
                }
              }
              print(a.json === true, rows, () =>
                rows.length === 0
                  ? `no records for ${name}\n`
                  : table(
                      ['NAME', 'TYPE', 'VALUE'],
                      rows.map((r) => [r.name, r.type, r.value]),
                    ),
              );
              if (rows.length === 0) setExit(1);
            });
          },
        )
        .demandCommand(1, 'Name a dns command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ClientArgs>;
}

function value(type: string, data: unknown): string {
  if (type === 'SRV' && typeof data === 'object' && data !== null) {
    const d = data as { target?: string; port?: number; priority?: number; weight?: number };
    return `${d.target}:${d.port} (priority ${d.priority}, weight ${d.weight})`;
  }
  return typeof data === 'string' ? data : JSON.stringify(data);
}
