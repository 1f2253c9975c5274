/**
 * The HTTP shell every Drover server uses (master, agent, later the frameworks' APIs): fastify
 * with one JSON body parser and one error shape.
 *
 * - Bodies: JSON only (other types get 415), at most `bodyLimit` bytes (413), nested at most
 *   MAX_JSON_DEPTH deep (400) — a hostile body must not cost a deep recursion anywhere later.
 * - Errors: `{message, code, details}` with the DroverError's status; fastify's own 4xx errors are
 *   mapped to the same shape; anything else is a 500 that is logged with its stack.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerFactory } from 'fastify';
import { DroverError, isDroverError, type ErrorKind } from '../errors/errors.ts';
import type { Logger } from '../log/index.ts';

export const MAX_JSON_DEPTH = 64;
export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

export interface HttpServerOptions {
  logger: Logger;
  bodyLimit?: number;
  /** Makes the node server fastify serves on (the master's HTTPS port: src/iam/tls-server.ts). */
  serverFactory?: FastifyServerFactory;
}

export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    forceCloseConnections: true,
    ...(options.serverFactory === undefined ? {} : { serverFactory: options.serverFactory }),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'text/json'], { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.setErrorHandler((error: FastifyError | DroverError, request, reply) => {
    const drover = toDroverError(error);
    if (drover.status >= 500) options.logger.error({ url: request.url, err: error }, 'request-failed');
    void reply.status(drover.status).type('application/json').send(drover.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const e = new DroverError('NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0] ?? ''}`);
    void reply.status(404).send(e.toJSON());
  });
  return app;
}

/** JSON.parse with a nesting limit, checked in one linear scan before parsing. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new DroverError('MALFORMED', 'Request body is empty; expected JSON');
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw new DroverError('MALFORMED', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new DroverError('MALFORMED', `Invalid JSON: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

function toDroverError(error: FastifyError | DroverError): DroverError {
  if (isDroverError(error)) return error;
  const status = (error as FastifyError).statusCode ?? 500;
  const byStatus: Record<number, ErrorKind> = { 400: 'MALFORMED', 404: 'NOT_FOUND', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };
  const kind = byStatus[status] ?? (status >= 400 && status < 500 ? 'MALFORMED' : 'INTERNAL');
  const message = kind === 'INTERNAL' ? 'Internal error' : error.message;
  return new DroverError(kind, message, { cause: error });
}
