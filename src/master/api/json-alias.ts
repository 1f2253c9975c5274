/**
 * Mesos' `.json` aliases: the legacy endpoints were also served as `<path>.json` (`/master/state.json`,
 * deprecated in 0.25, still called by many clients and scripts). Each is registered with its route.
 */
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';

export const JSON_ALIASED = ['/master/state', '/state', '/master/frameworks', '/master/slaves', '/master/tasks', '/master/state-summary', '/master/flags', '/master/roles'] as const;

/** GET `path`, and `path.json` when Mesos had that alias. */
export function mesosGet(app: FastifyInstance, path: string, handler: RouteHandlerMethod): void {
  app.get(path, handler);
  if ((JSON_ALIASED as readonly string[]).includes(path)) app.get(`${path}.json`, handler);
}
