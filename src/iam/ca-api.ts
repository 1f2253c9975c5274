/**
 * The cluster CA's rotation (docs/architecture/018-ca-rotation.md), for the superuser:
 *
 *   GET  /tls/v1/ca          the CA(s) trusted now, and which agents still hold a certificate of the old one
 *   POST /tls/v1/ca/rotate   a new CA: it signs agents' certificates from now on; the old one stays
 *                            trusted (and signs the master's own) until the rotation is finished
 *   POST /tls/v1/ca/finish   the old CA is dropped: refused (409, naming them) while a registered
 *                            agent still holds one of its certificates, unless {"force": true}
 *
 * The routes only answer; what a rotation changes in the running master (its certificates, what it
 * trusts, what it tells agents) is the composition root's (`CaRotation`, src/cluster/master.ts).
 */
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../errors/errors.ts';
import type { CaSummary } from './tls-ca.ts';

export interface AgentCertificates {
  /** Registered agents (not gone) and the issuer of the certificate each holds, if known. */
  agents(): Array<{ id: string; hostname: string; issuer: string | undefined }>;
}

export interface CaRotation {
  /** undefined: TLS is off. */
  summary(): { current: CaSummary; previous?: CaSummary; signingSubject: string } | undefined;
  rotate(): Promise<void>;
  finish(): Promise<void>;
}

export interface CaStatus {
  rotating: boolean;
  current: CaSummary;
  previous?: CaSummary;
  agents: { total: number; onCurrent: number; pending: Array<{ id: string; hostname: string }> };
}

const MAX_LISTED = 100;

export function caStatus(rotation: CaRotation, certificates: AgentCertificates): CaStatus {
  const summary = rotation.summary();
  if (summary === undefined) throw new DroverError('NOT_FOUND', 'TLS is off on this master: it has no cluster CA');
  const agents = certificates.agents();
  const pending = agents.filter((a) => a.issuer !== summary.signingSubject);
  return {
    rotating: summary.previous !== undefined,
    current: summary.current,
    ...(summary.previous === undefined ? {} : { previous: summary.previous }),
    agents: { total: agents.length, onCurrent: agents.length - pending.length, pending: pending.slice(0, MAX_LISTED).map(({ id, hostname }) => ({ id, hostname })) },
  };
}

export function registerCaRoutes(app: FastifyInstance, rotation: CaRotation, certificates: AgentCertificates): void {
  app.get('/tls/v1/ca', async () => caStatus(rotation, certificates));
  app.post('/tls/v1/ca/rotate', async () => {
    caStatus(rotation, certificates);
    await rotation.rotate();
    return caStatus(rotation, certificates);
  });
  app.post('/tls/v1/ca/finish', async (request) => {
    const body = request.body;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body)))
      throw new DroverError('VALIDATION', 'Invalid body', { details: [{ path: '', errors: ['must be an object: {"force": true|false}'] }] });
    const force = (body as { force?: unknown } | null | undefined)?.force;
    if (force !== undefined && typeof force !== 'boolean') throw new DroverError('VALIDATION', 'Invalid body', { details: [{ path: '/force', errors: ['must be a boolean'] }] });
    const status = caStatus(rotation, certificates);
    if (!status.rotating) throw new DroverError('CONFLICT', 'No CA rotation is under way (POST /tls/v1/ca/rotate starts one)');
    if (status.agents.pending.length > 0 && force !== true) {
      throw new DroverError(
        'CONFLICT',
        `${status.agents.total - status.agents.onCurrent} registered agent(s) still hold a certificate of the old CA (they get one of the new CA when they re-register); finishing now cuts them off — wait, or finish with {"force": true}`,
        { details: [{ path: '/force', errors: [`agents still on the old CA: ${status.agents.pending.map((a) => a.id).join(', ')}`] }] },
      );
    }
    await rotation.finish();
    return caStatus(rotation, certificates);
  });
}
