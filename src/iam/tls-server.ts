/**
 * One port, HTTPS — and plain HTTP only where the operator allows it. The first byte of a
 * connection tells them apart (a TLS handshake starts with 0x16, an HTTP request with a letter):
 * TLS goes to the HTTPS server, plain HTTP to an HTTP server with the same handler, or — where
 * plain HTTP is not allowed (`none`, or `loopback` and the peer is not on loopback) — gets a 400
 * saying so, and is closed. So `drover dev` keeps serving `http://127.0.0.1:5050` to existing
 * Marathon and Mesos clients while the same port serves `https://` with the cluster CA's
 * certificate.
 *
 * Client certificates are asked for but not required at the handshake (`requestCert`,
 * `rejectUnauthorized: false`): a browser or a CLI has none. What a certificate proves is decided
 * per request (tls-identity.ts): the agent API accepts an agent id only from the agent's
 * certificate, and a certificate that is presented but not trusted (another CA, expired) is refused.
 */
import { createServer as createPlainServer, type IncomingMessage, type RequestListener, type Server as PlainServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';

export type PlainHttp = 'none' | 'loopback' | 'any';

export interface TlsServerOptions {
  /** The server's certificate and key; an agent has none until its registration (setServerCertificate). */
  certPem?: string;
  keyPem?: string;
  /** The CA client certificates must chain to (the cluster CA). */
  clientCaPem: string;
  plain: PlainHttp;
  /** How long a new connection may stay silent before its first byte (default 10 s; tests). */
  firstByteTimeoutMs?: number;
}

const TLS_HANDSHAKE = 0x16;
/** fastify's default keep-alive. */
const DEFAULT_KEEP_ALIVE_MS = 72_000;
/** How long a connection may stay silent before its first byte (Nomad's `https_handshake_timeout` is 5 s). */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** A fastify `serverFactory` for a port that speaks HTTPS and, where allowed, plain HTTP. */
export function tlsServerFactory(
  options: TlsServerOptions,
): (handler: RequestListener<typeof IncomingMessage, typeof ServerResponse>, fastifyOptions?: { keepAliveTimeout?: number; requestTimeout?: number }) => HttpsServer {
  return (handler, fastifyOptions) => {
    const https = createHttpsServer(
      {
        ...(options.certPem === undefined ? {} : { cert: options.certPem }),
        ...(options.keyPem === undefined ? {} : { key: options.keyPem }),
        ca: options.clientCaPem,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      handler,
    );
    const plain: PlainServer = createPlainServer(handler);
    // What fastify sets on a server it makes itself, and not on a factory's: keep-alive 72 s, not
    // node's 5 s (a client whose loop is busy when a 5 s timer closes its pooled socket reuses a
    // closed one: "fetch failed").
    for (const server of [https, plain]) {
      server.keepAliveTimeout = fastifyOptions?.keepAliveTimeout ?? DEFAULT_KEEP_ALIVE_MS;
      if (fastifyOptions?.requestTimeout !== undefined) server.requestTimeout = fastifyOptions.requestTimeout;
    }
    // The inner HTTP server never listens itself: it is given connections the outer one accepted.
    plain.emit('listening');
    const tlsListeners = https.listeners('connection') as Array<(socket: Socket) => void>;
    https.removeAllListeners('connection');
    // The timer fires in the event loop's timers phase, before the poll phase reads what arrived
    // meanwhile: after a stall of the master's loop longer than the timeout (a CPU-starved
    // machine, a long GC) every connection accepted during the stall would be cut although its
    // first byte is waiting in the kernel — a thousand agents' handshakes at once, retried after
    // their backoff. So the cut waits for one turn of the loop (setImmediate runs after the poll
    // phase), and only a connection that is still silent then is closed.
    const silent = function (this: Socket): void {
      const socket = this;
      setImmediate(() => {
        if (!dispatched.has(socket)) socket.destroy();
      });
    };
    const dispatched = new WeakSet<Socket>();
    const dispatch = (socket: Socket): void => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) {
        socket.once('readable', () => dispatch(socket));
        return;
      }
      // From here the servers set their own timeouts: this one must not outlive the first byte.
      dispatched.add(socket);
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        // Node's TLS socket takes the bytes already buffered on the socket (the unshifted one).
        for (const listener of tlsListeners) listener.call(https, socket);
        return;
      }
      if (options.plain === 'any' || (options.plain === 'loopback' && isLoopbackAddress(socket.remoteAddress))) {
        plain.emit('connection', socket);
        return;
      }
      const body = 'This server takes HTTPS only (plain HTTP is not allowed from this address); use https://\n';
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, () => socket.destroy());
    };
    https.on('connection', (socket: Socket) => {
      socket.on('error', () => socket.destroy());
      socket.setTimeout(options.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS);
      socket.on('timeout', silent);
      dispatch(socket);
    });
    // fastify closes with forceCloseConnections: the plain connections are closed with the TLS ones.
    const closeAll = https.closeAllConnections.bind(https);
    const closeIdle = https.closeIdleConnections.bind(https);
    https.closeAllConnections = () => {
      plain.closeAllConnections();
      closeAll();
    };
    https.closeIdleConnections = () => {
      plain.closeIdleConnections();
      closeIdle();
    };
    https.on('close', () => plain.close());
    return https;
  };
}

/** The certificate a TLS server presents from now on (an agent's, once the master issued it). */
export function setServerCertificate(server: unknown, tls: { certPem: string; keyPem: string; caPem: string }): void {
  (server as HttpsServer).setSecureContext({ cert: tls.certPem, key: tls.keyPem, ca: tls.caPem });
}
