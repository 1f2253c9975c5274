/**
 * HTTP transport of the scheduler SDK: `POST /api/v1/scheduler`, SUBSCRIBE read as a RecordIO
 * stream, other calls with the `Mesos-Stream-Id` header.
 *
 * HA: `masterUrl` may list several masters (comma-separated). SUBSCRIBE tries them in turn; a
 * standby's 307 to the leader is followed (as Mesos' scheduler libraries do), and the calls of
 * the subscription then go to the master that answered.
 */
import { fetchFollowing } from '../../http/follow-redirects.ts';
import { DroverError, type ErrorDetail } from '../../errors/errors.ts';
import { decodeJsonRecords } from '../../protocol/recordio.ts';
import type { FrameworkInfo } from '../../protocol/mesos/scheduler.ts';
import { EventQueue } from './event-queue.ts';
import { subscribedFrameworkId, type OutgoingCall, type SchedulerConnection, type SchedulerEvent, type SchedulerTransport, type SubscribeOptions } from './scheduler.ts';

export class HttpSchedulerTransport implements SchedulerTransport {
  /**
   * `token`: the framework's principal (a service account's token from `POST /acs/api/v1/auth/login`);
   * SUBSCRIBE needs `create` on `dcos:mesos:master:framework:role:<role>` for its roles.
   * `fetchImpl`: how requests go out — over HTTPS, one that trusts the cluster CA
   * (src/iam/tls-client.ts; the CLI's comes from DROVER_CA_CERT or `<data-dir>/ca.crt`).
   */
  constructor(
    private readonly masterUrl: string,
    private readonly token?: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private auth(): Record<string, string> {
    return this.token === undefined ? {} : { authorization: `token=${this.token}` };
  }

  async subscribe(info: FrameworkInfo, options: SubscribeOptions = {}): Promise<SchedulerConnection> {
    const abort = new AbortController();
    const body = JSON.stringify({
      type: 'SUBSCRIBE',
      ...(info.id ? { framework_id: info.id } : {}),
      subscribe: { framework_info: info, ...(options.suppressedRoles ? { suppressed_roles: options.suppressedRoles } : {}) },
    });
    const masters = this.masterUrl
      .split(',')
      .map((u) => u.trim().replace(/\/+$/, ''))
      .filter((u) => u !== '');
    let response: Response | undefined;
    let lastError: unknown;
    for (const master of masters) {
      try {
        response = await fetchFollowing(
          `${master}/api/v1/scheduler`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json', ...this.auth() },
            body,
            signal: abort.signal,
          },
          this.fetchImpl,
        );
        break;
      } catch (e) {
        lastError = e;
      }
    }
    if (response === undefined) throw lastError instanceof Error ? lastError : new Error(String(lastError));
    if (response.status !== 200 || !response.body) throw await responseError(response);
    const streamId = response.headers.get('mesos-stream-id') ?? '';
    const records = decodeJsonRecords<SchedulerEvent>(response.body as AsyncIterable<Uint8Array>);
    let frameworkId: string;
    try {
      frameworkId = subscribedFrameworkId(await records.next());
    } catch (e) {
      abort.abort();
      throw e;
    }
    const queue = new EventQueue<SchedulerEvent>();
    void (async () => {
      try {
        for await (const event of records) queue.push(event);
      } catch {
        // The stream ended abruptly (closed by us, or the master went away): the queue ends.
      } finally {
        queue.end();
      }
    })();
    // The master that accepted the subscription (after any redirect), without the path.
    const url = response.url.replace(/\/api\/v1\/scheduler$/, '');
    const auth = this.auth();
    const fetchImpl = this.fetchImpl;
    return {
      frameworkId,
      async call(call: OutgoingCall): Promise<void> {
        const res = await fetchImpl(`${url}/api/v1/scheduler`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'mesos-stream-id': streamId, ...auth },
          body: JSON.stringify({ ...call, framework_id: { value: frameworkId } }),
        });
        if (res.status !== 202) throw await responseError(res);
        await res.arrayBuffer();
      },
      events: () => queue,
      async close(): Promise<void> {
        abort.abort();
        queue.end();
      },
    };
  }
}

export async function responseError(response: Response): Promise<DroverError> {
  const text = await response.text();
  let message = text;
  let details: ErrorDetail[] = [];
  try {
    const body = JSON.parse(text) as { message?: string; details?: ErrorDetail[] };
    message = body.message ?? text;
    details = body.details ?? [];
  } catch {
    // A plain-text error body (as Mesos sends) is the message itself.
  }
  const kind =
    response.status === 403
      ? 'FORBIDDEN'
      : response.status === 409
        ? 'CONFLICT'
        : response.status === 415
          ? 'UNSUPPORTED_MEDIA_TYPE'
          : response.status === 404
            ? 'NOT_FOUND'
            : response.status >= 500
              ? 'STORE_UNAVAILABLE'
              : 'MALFORMED';
  const error = new DroverError(kind, `HTTP ${response.status}: ${message}`, { details });
  return Object.assign(error, { httpStatus: response.status });
}
