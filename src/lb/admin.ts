/**
 * Marathon-LB's admin endpoints (its :9090), served by us beside HAProxy:
 *   /_haproxy_health_check   200 while HAProxy's worker answers on the runtime API, else 503
 *   /_haproxy_getconfig      the config HAProxy runs (servers as they are now)
 *   /_haproxy_getpids        master and worker pids, reloads, runtime updates (JSON)
 *   /_haproxy_getrefused     labels refused, with reasons (JSON; Drover's)
 *   /haproxy?stats[;csv]     HAProxy's `show stat` (CSV)
 * Read-only; nothing from a request reaches HAProxy but the fixed commands above.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadBalancer } from './load-balancer.ts';
import { runtimeCommand } from './runtime-api.ts';

export async function startAdminServer(lb: LoadBalancer, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const send = (status: number, type: string, body: string): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
      response.end(body);
    };
    const url = (request.url ?? '/').slice(0, 200);
    const path = url.split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    const answer = async (): Promise<void> => {
      if (path === '/_haproxy_health_check') {
        try {
          await lb.workerPid();
          send(200, 'text/plain', 'OK\n');
        } catch (e) {
          send(503, 'text/plain', `HAProxy does not answer: ${(e as Error).message}\n`);
        }
      } else if (path === '/_haproxy_getconfig') send(200, 'text/plain', lb.config);
      else if (path === '/_haproxy_getpids') {
        const worker = await lb.workerPid().catch(() => null);
        send(
          200,
          'application/json',
          `${JSON.stringify({ masterPid: lb.masterPid() ?? null, workerPid: worker, reloads: lb.reloads, runtimeUpdates: lb.runtimeUpdates, lastError: lb.lastError ?? null })}\n`,
        );
      } else if (path === '/_haproxy_getrefused') send(200, 'application/json', `${JSON.stringify({ refused: lb.model.refused })}\n`);
      else if (path === '/haproxy' && url.startsWith('/haproxy?stats')) send(200, 'text/csv', await runtimeCommand(lb.socketPath, 'show stat'));
      else send(404, 'text/plain', 'not found\n');
    };
    answer().catch((e: unknown) => send(503, 'text/plain', `${(e as Error).message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${shown}:${address.port}` };
}
