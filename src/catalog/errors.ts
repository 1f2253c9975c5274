/**
 * Cosmos' error shape: `{"type": "...", "message": "...", "data": {...}}` with the media type
 * `application/vnd.dcos.package.error+json;charset=utf-8;version=v1`. The `type` names are
 * Cosmos' own (PackageNotFound, JsonSchemaMismatch, ...), so DC/OS clients that switch on them work.
 */
export class CosmosError extends Error {
  readonly type: string;
  readonly status: number;
  readonly data: Record<string, unknown> | undefined;
  /**
   * A 422's fields and why, at the top level as every Drover refusal has them (Cosmos' own shape
   * has none; clients of Cosmos ignore the extra key).
   */
  readonly details: Array<{ path: string; errors: string[] }> | undefined;

  constructor(type: string, message: string, status = 400, data?: Record<string, unknown>, details?: Array<{ path: string; errors: string[] }>) {
    super(message);
    this.name = 'CosmosError';
    this.type = type;
    this.status = status;
    this.data = data;
    this.details = details;
  }

  toJSON(): { type: string; message: string; data?: Record<string, unknown>; details?: Array<{ path: string; errors: string[] }> } {
    return { type: this.type, message: this.message, ...(this.data === undefined ? {} : { data: this.data }), ...(this.details === undefined ? {} : { details: this.details }) };
  }
}

/** A bad field in a request or a repository: the JSON pointer of the field and why. */
export function malformed(message: string, path: string, reason: string): CosmosError {
  return new CosmosError('MalformedRequest', message, 400, { errors: [{ path, errors: [reason] }] });
}
