/**
 * The agent's image API, behind `drover image list|pull|rm`:
 *   GET    /images                      stored images: reference, digests, layers, bytes, holders
 *   POST   /images/pull                 {image, force?, dockerConfig?} → the stored image
 *   DELETE /images?image=REF            204; 404 when not stored; 409 while a task holds it
 *   POST   /images/prune                {maxAgeSeconds?, maxBytes?} → {removed: [...]}, image GC now
 * `dockerConfig` is a pull secret's value: a Docker config.json (`{"auths":{...}}`), as an object.
 */
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../../errors/errors.ts';
import { parseDockerConfig } from '../../images/auth.ts';
import type { GcLimits, LayerStore } from '../../images/layer-store.ts';
import { MAX_REFERENCE_LENGTH, parseReference } from '../../images/reference.ts';

function invalid(path: string, reason: string): DroverError {
  return new DroverError('VALIDATION', 'Object is not valid', { details: [{ path, errors: [reason] }] });
}

function body(raw: unknown): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('', 'the body must be a JSON object');
  return raw as Record<string, unknown>;
}

function imageField(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_REFERENCE_LENGTH) throw invalid(path, `an image reference of 1 to ${MAX_REFERENCE_LENGTH} characters is required`);
  // Parsed here so a bad reference is a 4xx naming the field before anything else happens.
  parseReference(value);
  return value;
}

export function registerImageRoutes(app: FastifyInstance, store: LayerStore, limitsFromFlags: () => GcLimits): void {
  app.get('/images', async () => ({ images: await store.list() }));

  app.post('/images/pull', async (request) => {
    const b = body(request.body);
    const image = imageField(b['image'], '/image');
    if (b['force'] !== undefined && typeof b['force'] !== 'boolean') throw invalid('/force', 'must be a boolean');
    let secrets = {};
    if (b['dockerConfig'] !== undefined) {
      if (typeof b['dockerConfig'] !== 'object' || b['dockerConfig'] === null) throw invalid('/dockerConfig', 'must be a Docker config.json object');
      secrets = parseDockerConfig(JSON.stringify(b['dockerConfig']));
    }
    const stored = await store.pull(image, { secrets, force: b['force'] === true });
    // A pull is when the store grows: apply the GC limits now rather than at the next sweep.
    await store.collect(limitsFromFlags());
    return stored;
  });

  app.delete('/images', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const image = imageField(Array.isArray(query['image']) ? undefined : query['image'], '/image');
    await store.remove(image);
    return reply.code(204).send();
  });

  app.post('/images/prune', async (request) => {
    const b = request.body === undefined ? {} : body(request.body);
    const limits: GcLimits = {};
    const age = b['maxAgeSeconds'];
    const bytes = b['maxBytes'];
    if (age !== undefined) {
      if (typeof age !== 'number' || !Number.isFinite(age) || age < 0) throw invalid('/maxAgeSeconds', 'must be a number ≥ 0');
      limits.maxAgeMs = age * 1000;
    }
    if (bytes !== undefined) {
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw invalid('/maxBytes', 'must be an integer ≥ 0');
      limits.maxBytes = bytes;
    }
    // No limits in the body: the agent's own (--image-gc-max-age, --image-gc-max-bytes).
    return { removed: await store.collect(age === undefined && bytes === undefined ? limitsFromFlags() : limits) };
  });
}
