/**
 * The web UI's files (web/dist, built by `vite build` from `npm ci`'s prepare script) on the
 * master's port. The APIs keep their paths; everything else that a browser asks for as a page is
 * the single-page app:
 *   /assets/<name>-<hash>.<ext>   immutable, cached for a year (the hash changes with the content)
 *   /<file> that exists in dist   served with its content type, revalidated (no-cache)
 *   any other GET that asks for text/html and is not an API path → index.html (client routes)
 * API paths that match no route still get the usual JSON 404, never the app's HTML.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DroverError } from '../errors/errors.ts';

export const WEB_DIST = join(import.meta.dirname, '..', '..', 'web', 'dist');

/** First path segments that belong to APIs (`/state.json` too): a miss there is a 404, not the app. */
const API_ROOTS = new Set(['v1', 'v2', 'api', 'master', 'agent', 'files', 'metrics', 'ping', 'state', 'health', 'slave(1)']);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export function isApiPath(path: string): boolean {
  const first = path.split('/')[1] ?? '';
  return API_ROOTS.has(first.replace(/\.json$/, ''));
}

export function registerWebUi(app: FastifyInstance, root = WEB_DIST): void {
  const send = async (reply: FastifyReply, relative: string, cache: string): Promise<boolean> => {
    // normalize + prefix check: a `..` in the URL can never leave the dist folder.
    const file = normalize(join(root, relative));
    if (file !== root && !file.startsWith(root + sep)) return false;
    try {
      if (!(await stat(file)).isFile()) return false;
      const body = await readFile(file);
      void reply
        .type(TYPES[extname(file)] ?? 'application/octet-stream')
        .header('cache-control', cache)
        .header('x-content-type-options', 'nosniff')
        .send(body);
      return true;
    } catch {
      return false;
    }
  };

  const index = async (reply: FastifyReply): Promise<FastifyReply> => {
    if (await send(reply, 'index.html', 'no-cache')) return reply;
    // Not built: say how to build it rather than a bare 404.
    return reply
      .status(503)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send('<!doctype html><title>Drover</title><p>The web UI is not built. Run <code>npm run build:web</code> (or <code>npm ci</code>) and reload.</p>');
  };

  app.get('/', async (_request, reply) => index(reply));
  app.get('/*', async (request, reply) => {
    let path: string;
    try {
      path = decodeURIComponent(request.url.split('?')[0] ?? '/');
    } catch {
      throw new DroverError('NOT_FOUND', 'No such page: the path is not valid percent-encoding');
    }
    if (isApiPath(path)) throw new DroverError('NOT_FOUND', `No route for GET ${path}`);
    if (path.startsWith('/assets/')) {
      if (await send(reply, path, 'public, max-age=31536000, immutable')) return reply;
      throw new DroverError('NOT_FOUND', `No such asset: ${path}`);
    }
    // A known file type is a file (a miss is a 404); ids with dots (jobs, tasks) are routes.
    if (TYPES[extname(path)] !== undefined) {
      if (await send(reply, path, 'no-cache')) return reply;
      throw new DroverError('NOT_FOUND', `No such file: ${path}`);
    }
    // Browsers navigating ask for text/html; scripts and tools (curl, fetch: */*) get the JSON 404.
    if ((request.headers.accept ?? '').includes('text/html')) return index(reply);
    throw new DroverError('NOT_FOUND', `No route for GET ${path}`);
  });
}
