import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { masterCallerAuthorizer } from './caller-authorizer.ts';

/** A master's /acs/api/v1/authorize that allows `allowedRid` for token `good`, and counts questions. */
async function fakeMaster(allowedRid: string): Promise<{ base: string; asked: () => number; server: Server }> {
  let asked = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      asked++;
      if (request.headers.authorization !== 'token=good') {
        response.writeHead(401).end('{}');
        return;
      }
      const { rid } = JSON.parse(body) as { rid: string };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ allowed: rid === allowedRid }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked: () => asked, server };
}

test('answers are asked of the master, remembered 10 s, and kept (up to 5 min) only while the master cannot be asked', async () => {
  const master = await fakeMaster('r:/dev');
  let clock = 0;
  let base = master.base;
  const authorize = masterCallerAuthorizer(
    () => base,
    () => true,
    () => clock,
  );
  await authorize('token=good', 'r:/dev', 'read');
  await assert.rejects(authorize('token=good', 'r:/prod', 'read'), { status: 403 });
  await assert.rejects(authorize('token=bad', 'r:/dev', 'read'), { status: 401 });
  await assert.rejects(authorize(undefined, 'r:/dev', 'read'), { status: 401 });
  assert.equal(master.asked(), 3);
  clock = 9_000;
  await authorize('token=good', 'r:/dev', 'read');
  assert.equal(master.asked(), 3, 'remembered');

  // The master goes away: a known answer holds for 5 minutes, a question never asked fails (503).
  await new Promise<void>((resolve) => master.server.close(() => resolve()));
  base = 'http://127.0.0.1:1';
  clock = 60_000;
  await authorize('token=good', 'r:/dev', 'read');
  await assert.rejects(authorize('token=good', 'r:/prod', 'read'), { status: 403 }, 'a refusal is kept too');
  await assert.rejects(authorize('token=good', 'r:/other', 'read'), { status: 503 });
  clock = 6 * 60_000;
  await assert.rejects(authorize('token=good', 'r:/dev', 'read'), { status: 503 }, 'too old to hold');
});

test('an agent with auth off checks nothing', async () => {
  const authorize = masterCallerAuthorizer(
    () => 'http://127.0.0.1:1',
    () => false,
  );
  await authorize(undefined, 'r:/dev', 'create');
});
