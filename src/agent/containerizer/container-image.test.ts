import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestedImage } from './container-image.ts';

test('the image of a ContainerInfo, in both of Mesos’ forms, with a pull secret by value or by reference', () => {
  assert.deepEqual(requestedImage(undefined), {});
  assert.deepEqual(requestedImage({ type: 'MESOS' }), {});
  assert.deepEqual(requestedImage({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'r:5000/a/b:1' }, cached: false } } }), { image: { reference: 'r:5000/a/b:1', force: true } });
  assert.deepEqual(requestedImage({ type: 'DOCKER', docker: { image: 'busybox', force_pull_image: true } }), { image: { reference: 'busybox', force: true } });
  const config = Buffer.from(JSON.stringify({ auths: { 'r:5000': { auth: Buffer.from('u:p').toString('base64') } } })).toString('base64');
  assert.deepEqual(requestedImage({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'r:5000/x', config: { type: 'VALUE', value: { data: config } } } } } }), {
    image: { reference: 'r:5000/x', pullSecret: { 'r:5000': { username: 'u', password: 'p' } } },
  });
  assert.deepEqual(requestedImage({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'x', config: { type: 'REFERENCE', reference: { name: '/pull' } } } } } }), {
    image: { reference: 'x' },
    secretPath: '/pull',
  });
  const bad = requestedImage({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'x', config: { type: 'VALUE', value: { data: Buffer.from('nope').toString('base64') } } } } } });
  assert.match('error' in bad ? bad.error : '', /container\.mesos\.image\.docker\.config: pull secret is not a Docker config\.json/);
  assert.match(JSON.stringify(requestedImage({ type: 'MESOS', mesos: { image: { type: 'DOCKER', docker: { name: 'x'.repeat(600) } } } })), /1 to 512 characters/);
});
