/**
 * Cosmos' error shape: `{"type": "...", "message": "...", "data": {...}}` with the media type
 * `application/vnd.dcos.package.error+json;charset=utf-8;version=v1`. The `type` names are
 * Cosmos' own (PackageNotFound, JsonSchemaMismatch, ...), so DC/OS clients that switch on them work.
 */
export class CosmosError extends Error {
  readonly type: string;
  readonly status: number;
  readonly data: Record<string, unknown> | undefined;

  constructor(type: string, message: string, status = 400, data?: Record<string, unknown>) {
    super(message);
    this.name = 'CosmosError';
    this.type = type;
    this.status = status;
    this.data = data;
  }

  toJSON(): { type: string; message: string; data?: Record<string, unknown> } {
    return { type: this.type, message: this.message, ...(this.data === undefined ? {} : { data: this.data }) };
  }
}

/** A bad field in a request or a repository: the JSON pointer of the field and why. */
export function malformed(message: string, path: string, reason: string): CosmosError {
  return new CosmosError('MalformedRequest', message, 400, { errors: [{ path, errors: [reason] }] });
}
