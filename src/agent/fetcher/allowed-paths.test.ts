import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllowedPaths } from './allowed-paths.ts';

test('parseAllowedPaths: absolute directories, comma-separated, normalized; anything else refused', () => {
  assert.deepEqual(parseAllowedPaths('/srv/artifacts, /opt/pkgs/,/a/../b'), ['/srv/artifacts', '/opt/pkgs', '/b']);
  assert.deepEqual(parseAllowedPaths(''), []);
  assert.deepEqual(parseAllowedPaths('/'), ['/']);
  assert.throws(() => parseAllowedPaths('/srv,relative/dir'), /'relative\/dir' is not an absolute path/);
});
