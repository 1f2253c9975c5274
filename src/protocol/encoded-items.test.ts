import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncodedArray, EncodedBody, EncodedItem, encodedParts, JoinedArray, serializeWithEncoded } from './encoded-items.ts';

const block = (items: unknown[]): Buffer => Buffer.from(items.map((i) => `,${JSON.stringify(i)}`).join(''), 'utf8');

async function read(body: EncodedBody): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

test('a streamed body is JSON.stringify of the payload, with its length, large blocks not copied', async () => {
  const big = Array.from({ length: 400 }, (_, i) => ({ id: `t${i}`, name: `é✓ ${'x'.repeat(200)}` }));
  const blocks = [block(big.slice(0, 300)), block(big.slice(300))];
  const small = Array.from({ length: 500 }, (_, i) => ({ id: `a${i}`, n: i, ok: i % 2 === 0, skip: undefined }));
  const payload = {
    slaves: small,
    frameworks: [{ id: 'f', tasks: new EncodedArray(blocks), completed: new JoinedArray([[{ id: 'old' }], new EncodedArray([])]), one: new EncodedItem('{"a":1}') }],
    n: null,
  };
  const plain = { slaves: small, frameworks: [{ id: 'f', tasks: big, completed: [{ id: 'old' }], one: { a: 1 } }], n: null };
  const expected = JSON.stringify(plain);
  assert.equal(serializeWithEncoded(payload).toString('utf8'), expected);
  const body = EncodedBody.of(payload);
  assert.equal(body.length, Buffer.byteLength(expected));
  const parts = encodedParts(payload);
  assert.ok(parts.includes(blocks[1]!), 'a large block is sent as it is');
  assert.ok(parts.length < 20, `small pieces are copied together (${parts.length} parts)`);
  assert.equal(await read(body), expected);
  const wrapped = EncodedBody.of(payload).wrapped('cb(', ');');
  assert.equal(wrapped.length, Buffer.byteLength(expected) + 5);
  assert.equal(await read(wrapped), `cb(${expected});`);
});
