/**
 * A pooled POST for the hollow agents' calls (UPDATE, HEARTBEAT): at most `sockets` kept-alive
 * connections per thread, however many agents share it. With `fetch` each agent kept a socket of
 * its own for calls besides its REGISTER stream: 10,000 agents needed > 20,000 descriptors, the
 * limit of this machine's processes, and the runner died with EMFILE.
 */
import { Agent, request } from 'node:http';
import { type Dispatcher, request as undiciRequest } from 'undici';

export function pooledPost(sockets: number): (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, headers: { ...init.headers, 'content-length': Buffer.byteLength(init.body) }, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, text: async () => text });
        });
      });
      req.on('error', reject);
      req.end(init.body);
    });
}

/**
 * A POST on an undici dispatcher (a TLS agent's own: its certificate is its own, so its calls
 * cannot share a pool), read at each call — the agent's certificate may have just arrived.
 */
export function dispatcherPost(
  dispatcher: () => Dispatcher,
): (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }> {
  return async (url, init) => {
    const response = await undiciRequest(url, { method: 'POST', dispatcher: dispatcher(), headers: init.headers, body: init.body, signal: init.signal });
    const text = await response.body.text();
    return { status: response.statusCode, text: async () => text };
  };
}
