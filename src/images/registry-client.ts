/**
 * One repository on one registry over the OCI distribution API, with node's http/https.
 *
 * - Auth: a 401 is answered by its `WWW-Authenticate` challenge — Bearer: a token from the realm
 *   (`?service=&scope=repository:NAME:pull`, the pull secret as Basic credentials if there is one);
 *   Basic: the pull secret. The header is kept for the session and renewed once on a later 401
 *   (tokens expire, 60 s by default).
 * - Redirects (blobs are often served from a CDN) are followed, at most 5, and the Authorization
 *   header never crosses to another origin (distribution spec: MUST NOT forward it).
 * - Plain HTTP only to loopback or to registries named by `--insecure-registry`; a redirect or a
 *   token realm to plain HTTP elsewhere is refused.
 * - Every answer read into memory has a size bound; bodies streamed to disk are the caller's to hash.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DroverError } from '../errors/errors.ts';
import { basicHeader, parseChallenge, type Credentials } from './auth.ts';

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 256 * 1024;

export interface TransportPolicy {
  /** `host[:port]` of registries that may be reached over plain HTTP (besides loopback). */
  readonly insecureRegistries: readonly string[];
  /** Socket idle timeout: a registry that sends nothing for this long fails the request. */
  readonly idleTimeoutMs: number;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost' || host === '::1') return true;
  const parts = host.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => p.length > 0 && p.length <= 3 && Number(p) <= 255 && /^[0-9]+$/.test(p));
}

/** The base URL of a registry's API: https, or http for loopback and `--insecure-registry` hosts. */
export function registryBase(hostPort: string, policy: TransportPolicy): URL {
  const url = new URL(`https://${hostPort}`);
  const plain = isLoopbackHost(url.hostname) || policy.insecureRegistries.includes(hostPort);
  return new URL(`${plain ? 'http' : 'https'}://${hostPort}`);
}

function mayUse(url: URL, policy: TransportPolicy): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  return isLoopbackHost(url.hostname) || policy.insecureRegistries.includes(url.host);
}

export function pullFailed(image: string, message: string, cause?: unknown): DroverError {
  return new DroverError('IMAGE_PULL_FAILED', `pulling ${image}: ${message}`, cause === undefined ? {} : { cause });
}

/** Reads a whole body, refusing more than `limit` bytes. */
export async function readBounded(response: IncomingMessage, limit: number, what: string, image: string): Promise<Buffer> {
  const declared = Number(response.headers['content-length'] ?? '0');
  if (declared > limit) {
    response.destroy();
    throw pullFailed(image, `${what} is ${declared} bytes, more than the limit of ${limit}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      response.destroy();
      throw pullFailed(image, `${what} is more than the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(url: URL, headers: Record<string, string>, policy: TransportPolicy): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = make(url, { method: 'GET', headers }, resolve);
    req.setTimeout(policy.idleTimeoutMs, () => req.destroy(new Error(`no answer for ${policy.idleTimeoutMs} ms`)));
    req.on('response', (response) => {
      // The idle bound holds for the body too: a registry that stalls mid-blob fails the read.
      response.setTimeout?.(policy.idleTimeoutMs, () => response.destroy(new Error(`body stalled for ${policy.idleTimeoutMs} ms`)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The distribution error body's first `code: message`, if it has one. */
function registryError(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    if (first !== undefined) return `${String(first.code ?? '')}: ${String(first.message ?? '')}`.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.toString('utf8').slice(0, 200).replace(/\s+/g, ' ');
}

export class RepositorySession {
  private authorization: string | undefined;

  constructor(
    /** The image, for messages. */
    readonly image: string,
    readonly base: URL,
    readonly repository: string,
    private readonly credentials: Credentials | undefined,
    private readonly policy: TransportPolicy,
  ) {}

  /**
   * GET `/v2/<repository>/<path>`; resolves with a 200 answer (its body unread), following
   * challenges and redirects; any other final status is a DroverError naming the registry's error.
   */
  async get(path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    const url = new URL(`/v2/${this.repository}/${path}`, this.base);
    let renewed = false;
    for (;;) {
      const response = await this.follow(url, headers);
      if (response.statusCode === 401 && !renewed) {
        renewed = true;
        const challenge = parseChallenge(response.headers['www-authenticate']);
        response.resume();
        await this.authenticate(challenge);
        continue;
      }
      if (response.statusCode === 200) return response;
      const body = await readBounded(response, MAX_ERROR_BODY, 'error body', this.image).catch(() => Buffer.alloc(0));
      throw pullFailed(this.image, `${this.base.host} answered ${response.statusCode} to GET ${url.pathname}: ${registryError(body)}`);
    }
  }

  /** One request and its redirects; Authorization only to the registry's own origin. */
  private async follow(start: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    let url = start;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameOrigin = url.origin === this.base.origin;
      const all = { 'user-agent': 'drover', ...headers, ...(sameOrigin && this.authorization !== undefined ? { authorization: this.authorization } : {}) };
      let response: IncomingMessage;
      try {
        response = await send(url, all, this.policy);
      } catch (error) {
        throw pullFailed(this.image, `GET ${url.host}${url.pathname}: ${(error as Error).message}`, error);
      }
      const status = response.statusCode ?? 0;
      if (status < 300 || status >= 400 || status === 304) return response;
      const location = response.headers.location;
      response.resume();
      if (location === undefined || location.length > 8192) throw pullFailed(this.image, `${url.host} answered ${status} without a usable Location`);
      const next = new URL(location, url);
      if (!mayUse(next, this.policy)) throw pullFailed(this.image, `redirect to ${next.protocol}//${next.host} refused (plain HTTP only to loopback or --insecure-registry hosts)`);
      url = next;
    }
    throw pullFailed(this.image, `more than ${MAX_REDIRECTS} redirects`);
  }

  private async authenticate(challenge: ReturnType<typeof parseChallenge>): Promise<void> {
    if (challenge === undefined) throw pullFailed(this.image, `${this.base.host} answered 401 without a Bearer or Basic challenge`);
    if (challenge.scheme === 'basic') {
      if (this.credentials === undefined) throw pullFailed(this.image, `${this.base.host} requires credentials (Basic) and no pull secret was given`);
      this.authorization = basicHeader(this.credentials);
      return;
    }
    const realm = challenge.params['realm'];
    if (realm === undefined || realm.length > 2048) throw pullFailed(this.image, 'Bearer challenge without a usable realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw pullFailed(this.image, 'Bearer challenge realm is not a URL');
    }
    if (!mayUse(url, this.policy)) throw pullFailed(this.image, `token realm ${url.protocol}//${url.host} refused (plain HTTP only to loopback or --insecure-registry hosts)`);
    const service = challenge.params['service'];
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.set('scope', `repository:${this.repository}:pull`);
    const headers: Record<string, string> = { 'user-agent': 'drover', ...(this.credentials === undefined ? {} : { authorization: basicHeader(this.credentials) }) };
    let response: IncomingMessage;
    try {
      response = await send(url, headers, this.policy);
    } catch (error) {
      throw pullFailed(this.image, `token request to ${url.host}: ${(error as Error).message}`, error);
    }
    const body = await readBounded(response, MAX_TOKEN_BODY, 'token answer', this.image);
    if (response.statusCode !== 200) throw pullFailed(this.image, `token server ${url.host} answered ${response.statusCode}: ${registryError(body)}`);
    let token: unknown;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = parsed.token ?? parsed.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token.length === 0 || token.length > 128 * 1024) throw pullFailed(this.image, `token server ${url.host} gave no token`);
    this.authorization = `Bearer ${token}`;
  }
}
