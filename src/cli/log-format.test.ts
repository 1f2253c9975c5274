import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../log/index.ts';
import { logDestination, logFormat, prettyLine } from './log-format.ts';

test('the format: pretty on a terminal, JSON otherwise, the flag first', () => {
  assert.equal(logFormat(undefined, { isTTY: true }), 'pretty');
  assert.equal(logFormat(undefined, { isTTY: false }), 'json');
  assert.equal(logFormat(undefined, {}), 'json');
  assert.equal(logFormat('json', { isTTY: true }), 'json');
  assert.equal(logFormat('pretty', { isTTY: false }), 'pretty');
});

test('a real logger through the pretty destination: time, level, part, event, fields; errors by message', () => {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _e, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  const destination = logDestination('pretty', out);
  assert.ok(destination);
  const log = createLogger({ name: 'drover-dev', destination }).child({ part: 'master' });
  log.info({ frameworkId: 'f-1', name: 'marathon', roles: ['*'], note: 'two words' }, 'framework-subscribed');
  log.warn({ err: new Error('port taken') }, 'dns-off');
  const lines = text.split('\n');
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d INFO {2}master {3}framework-subscribed {2}frameworkId=f-1 roles=\["\*"\] note="two words"$/);
  assert.match(lines[1]!, /^\d\d:\d\d:\d\d WARN {2}master {3}dns-off$/);
  assert.equal(lines[2], '    port taken');
  assert.equal(logDestination('json', out), undefined);
});

test('a line that is not JSON passes through', () => {
  assert.equal(prettyLine('plain text'), 'plain text\n');
});
