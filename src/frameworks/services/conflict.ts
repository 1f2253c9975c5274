import type { FastifyReply } from 'fastify';
import { DroverError } from '../../errors/errors.ts';

/** Run a change; a 409 from a deployment lock carries the blocking deployments (Marathon's shape). */
export async function guarded(reply: FastifyReply, change: () => Promise<unknown>): Promise<unknown> {
  try {
    return await change();
  } catch (e) {
    if (e instanceof DroverError && e.code === 'DROVER_ERR_CONFLICT' && 'deployments' in e) {
      return reply.status(409).send({ message: e.message, deployments: (e as unknown as { deployments: unknown }).deployments });
    }
    throw e;
  }
}
