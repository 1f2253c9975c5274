/**
 * Drover's error base class. Every error that crosses a module boundary is a DroverError with a
 * stable `code` (catalogued in docs/errors.md) and the HTTP status an API edge should answer with.
 * Codes never change meaning once released: clients match on them.
 */
export const ErrorCodes = {
  /** An input failed schema validation; `details` lists each path and reason. */
  VALIDATION: { code: 'DROVER_ERR_VALIDATION', status: 422 },
  /** A body could not be parsed at all (malformed JSON, wrong content type framing). */
  MALFORMED: { code: 'DROVER_ERR_MALFORMED', status: 400 },
  /** A resource string or JSON resource array could not be parsed. */
  RESOURCE_PARSE: { code: 'DROVER_ERR_RESOURCE_PARSE', status: 400 },
  /** Resource arithmetic would go below zero or mixes incompatible kinds. */
  RESOURCE_MATH: { code: 'DROVER_ERR_RESOURCE_MATH', status: 409 },
  /** A RecordIO stream had a malformed or oversized frame. */
  RECORDIO: { code: 'DROVER_ERR_RECORDIO', status: 400 },
  /** A store call was malformed (empty key, bad revision, lease misuse). */
  STORE_MISUSE: { code: 'DROVER_ERR_STORE_MISUSE', status: 400 },
  /** A watch asked for a revision that has been compacted: resync from a fresh range. */
  STORE_COMPACTED: { code: 'DROVER_ERR_STORE_COMPACTED', status: 410 },
  /** A write guarded by leadership was made by a leader that has been deposed. */
  STORE_FENCED: { code: 'DROVER_ERR_STORE_FENCED', status: 409 },
  /** A lease does not exist (expired or revoked). */
  STORE_LEASE_NOT_FOUND: { code: 'DROVER_ERR_STORE_LEASE_NOT_FOUND', status: 404 },
  /** The store backend could not be reached or failed. */
  STORE_UNAVAILABLE: { code: 'DROVER_ERR_STORE_UNAVAILABLE', status: 503 },
  /** The store was closed and can no longer be used. */
  STORE_CLOSED: { code: 'DROVER_ERR_STORE_CLOSED', status: 503 },
  /** The store's files are damaged, lost or older than what was committed: refuse to start on them. */
  STORE_DAMAGED: { code: 'DROVER_ERR_STORE_DAMAGED', status: 503 },
  /**
   * An agent re-registered knowing more of the master's store than the store holds (another
   * cluster's id, or a registry revision the store does not have): the store was replaced or
   * restored from an older copy. The registration is refused unless the master runs with
   * --accept-stale-store.
   */
  STORE_STALE: { code: 'DROVER_ERR_STORE_STALE', status: 409 },
  /** No credential, or one that is invalid or expired: authenticate (POST /acs/api/v1/auth/login). */
  UNAUTHORIZED: { code: 'DROVER_ERR_UNAUTHORIZED', status: 401 },
  /** The caller may not make this call now (e.g. a framework that is not subscribed). */
  FORBIDDEN: { code: 'DROVER_ERR_FORBIDDEN', status: 403 },
  NOT_FOUND: { code: 'DROVER_ERR_NOT_FOUND', status: 404 },
  CONFLICT: { code: 'DROVER_ERR_CONFLICT', status: 409 },
  UNSUPPORTED_MEDIA_TYPE: { code: 'DROVER_ERR_UNSUPPORTED_MEDIA_TYPE', status: 415 },
  PAYLOAD_TOO_LARGE: { code: 'DROVER_ERR_PAYLOAD_TOO_LARGE', status: 413 },
  CONFIG: { code: 'DROVER_ERR_CONFIG', status: 400 },
  /** The master could not reach an agent on a caller's behalf (the sandbox files proxy). */
  AGENT_UNREACHABLE: { code: 'DROVER_ERR_AGENT_UNREACHABLE', status: 502 },
  /** A server-side limit is reached (e.g. event stream subscribers): retry later. */
  OVERLOADED: { code: 'DROVER_ERR_OVERLOADED', status: 503 },
  /** An image reference could not be parsed (name, tag or digest malformed or too long). */
  IMAGE_REFERENCE: { code: 'DROVER_ERR_IMAGE_REFERENCE', status: 400 },
  /** An image uses something this agent cannot run (zstd layers, an unknown media type, no manifest for its platform). */
  IMAGE_UNSUPPORTED: { code: 'DROVER_ERR_IMAGE_UNSUPPORTED', status: 422 },
  /** The registry refused or failed a pull (unknown image, bad credentials, connection lost, a malformed answer). */
  IMAGE_PULL_FAILED: { code: 'DROVER_ERR_IMAGE_PULL_FAILED', status: 502 },
  /** Bytes from a registry did not hash to the digest that named them: refused, nothing cached. */
  IMAGE_DIGEST_MISMATCH: { code: 'DROVER_ERR_IMAGE_DIGEST_MISMATCH', status: 502 },
  /** The secrets key is missing or is not the one the store's secrets were written with: refuse to start. */
  SECRETS_KEY: { code: 'DROVER_ERR_SECRETS_KEY', status: 503 },
  /** This master has no secrets key: secrets cannot be written or read. */
  SECRETS_SEALED: { code: 'DROVER_ERR_SECRETS_SEALED', status: 503 },
  /** A call of the anchor's API that Drover does not carry out (Mesos' NotImplemented). */
  NOT_IMPLEMENTED: { code: 'DROVER_ERR_NOT_IMPLEMENTED', status: 501 },
  INTERNAL: { code: 'DROVER_ERR_INTERNAL', status: 500 },
} as const;

export type ErrorKind = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorKind]['code'];

/** One failed field: a JSON pointer path and the reasons it failed (Marathon's detail shape). */
export interface ErrorDetail {
  path: string;
  errors: string[];
}

export interface DroverErrorOptions {
  details?: ErrorDetail[];
  cause?: unknown;
}

export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[];

  constructor(kind: ErrorKind, message: string, options: DroverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DroverError';
    this.code = ErrorCodes[kind].code;
    this.status = ErrorCodes[kind].status;
    this.details = options.details ?? [];
  }

  /** The body an HTTP edge answers with: `{message, code, details}` (Marathon-compatible keys). */
  toJSON(): { message: string; code: ErrorCode; details: ErrorDetail[] } {
    return { message: this.message, code: this.code, details: this.details };
  }
}

export function isDroverError(e: unknown, kind?: ErrorKind): e is DroverError {
  return e instanceof DroverError && (kind === undefined || e.code === ErrorCodes[kind].code);
}
