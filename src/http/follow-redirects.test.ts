import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { fetchFollowing } from './follow-redirects.ts';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

test("a standby's 307 to the leader is followed with the Authorization header and the body (fetch would drop the header)", async () => {
  const leader = createServer((request, response) => {
    let body = '';
    request.on('data', (d: Buffer) => (body += d.toString()));
    request.on('end', () => response.end(JSON.stringify({ authorization: request.headers.authorization ?? null, method: request.method, body })));
  });
  const leaderUrl = await listen(leader);
  const standby = createServer((request, response) => response.writeHead(307, { location: `${leaderUrl}${request.url ?? ''}` }).end());
  const standbyUrl = await listen(standby);
  try {
    const init = { method: 'POST', headers: { authorization: 'token=abc', 'content-type': 'application/json' }, body: '{"a":1}' };
    const plain = (await (await fetch(`${standbyUrl}/api/v1/agent`, init)).json()) as { authorization: string | null };
    assert.equal(plain.authorization, null, 'plain fetch drops it: the reason for fetchFollowing');
    const response = await fetchFollowing(`${standbyUrl}/api/v1/agent`, init);
    assert.deepEqual(await response.json(), { authorization: 'token=abc', method: 'POST', body: '{"a":1}' });
    assert.equal(response.url, `${leaderUrl}/api/v1/agent`);
  } finally {
    leader.close();
    standby.close();
  }
});

test('a redirect loop ends after a few hops with the last redirect as the answer', async () => {
  let hops = 0;
  const looping: Server = createServer((request, response) => {
    hops++;
    response.writeHead(307, { location: request.url ?? '/' }).end();
  });
  const url = await listen(looping);
  try {
    const response = await fetchFollowing(`${url}/x`);
    assert.equal(response.status, 307);
    assert.equal(hops, 6);
  } finally {
    looping.close();
  }
});
