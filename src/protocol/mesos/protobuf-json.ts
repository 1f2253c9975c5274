/**
 * Protobuf's JSON mapping, as Mesos reads its v1 API bodies: a field whose value is `null` is a
 * field not set. Framework libraries rely on it — npm's `mesos-framework` sends
 * `"framework_id": null`, `"role": null` and more on SUBSCRIBE — so every v1 edge (scheduler,
 * master and agent operator API) drops null fields before validating against its schema.
 *
 * Only object fields are dropped; a null inside a list is left for the schema to refuse (protobuf
 * has no null list items). Deeper than MAX_DEPTH the body is left as it is: the schemas nest far
 * less, so such a body is refused by validation rather than walked without bound.
 */
const MAX_DEPTH = 64;

export function withoutNullFields(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => (item === null ? null : withoutNullFields(item, depth + 1)));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== null) out[key] = withoutNullFields(field, depth + 1);
  }
  return out;
}
