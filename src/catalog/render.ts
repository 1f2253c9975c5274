/**
 * Cosmos' rendering rules (PackageDefinitionRenderer), pure:
 *
 * 1. options = deep-merge(defaults extracted from config.json, user options) — objects merge,
 *    everything else (arrays too) is replaced by the later value;
 * 2. when that merge is not empty it is validated against config.json (JSON Schema draft 4);
 *    a package without config.json takes no options (OptionsNotAllowed);
 * 3. context = deep-merge(options, {"resource": resource.json});
 * 4. mustache with HTML escaping off; values enter the template as Cosmos hands them to
 *    mustache.java: strings JSON-escaped (quotes kept only for array elements), integral numbers as
 *    integers, and — mustache.java's truthiness — only false, null, "" and [] hide a section (a 0 shows it);
 * 5. the result must be a JSON object; its `labels` must be strings; then the non-overridable
 *    DCOS_PACKAGE_* labels are merged in and `appId` replaces `id`.
 */
import AjvDraft04, { type ErrorObject, type ValidateFunction } from 'ajv-draft-04';
import Mustache from 'mustache';
import { compilePattern } from '../placement/pattern.ts';
import { CosmosError } from './errors.ts';
import { type PackageDefinition, templateOf } from './package-definition.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Cosmos' JsonUtil.merge: `b` over `a`, objects merged key by key, anything else replaced. */
export function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const current = out[k];
    out[k] = isObject(current) && isObject(v) ? deepMerge(current, v) : v;
  }
  return out;
}

/** The defaults of a config.json schema: `default` where given, else the nested `properties`' defaults. */
export function defaultsOf(schema: Record<string, unknown> | undefined): JsonObject {
  const walk = (properties: unknown, depth: number): JsonObject => {
    const out: JsonObject = {};
    if (!isObject(properties) || depth > 32) return out;
    for (const [name, property] of Object.entries(properties)) {
      if (!isObject(property)) continue;
      if ('default' in property) out[name] = property['default'] as Json;
      else if ('properties' in property) out[name] = walk(property['properties'], depth + 1);
    }
    return out;
  };
  return walk(schema?.['properties'], 0);
}

/**
 * Regular expressions in a repository's schemas (`pattern`, `patternProperties`) are matched in
 * linear time and bounded in size (src/placement/pattern.ts); JSON Schema's `pattern` searches,
 * so the pattern is wrapped to match anywhere.
 */
const boundedRegExp = Object.assign(
  (pattern: string) => {
    const compiled = compilePattern(`(?s:.*)(?:${pattern})(?s:.*)`);
    // ajv caches compiled patterns by `toString()` of what this returns: it must name the pattern.
    return { test: (value: string) => compiled.matches(value), toString: () => `/${pattern}/` };
  },
  { code: 'drover-bounded-regexp' },
);

// ajv-draft-04 is CommonJS: its class is the module's `default`.
const ajv = new AjvDraft04.default({ allErrors: true, strict: false, validateFormats: false, code: { regExp: boundedRegExp } });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorOf(schema: Record<string, unknown>): ValidateFunction {
  const cached = compiled.get(schema);
  if (cached !== undefined) return cached;
  let v: ValidateFunction;
  try {
    v = ajv.compile(schema);
  } catch (e) {
    throw new CosmosError('InvalidPackage', `The package's config.json is not a valid JSON Schema: ${(e as Error).message}`, 400);
  }
  compiled.set(schema, v);
  return v;
}

/** An ajv error in the shape Cosmos' validator (fge json-schema-validator) reports. */
function cosmosValidationError(e: ErrorObject): Record<string, unknown> {
  const schemaPointer = e.schemaPath.replace(/^#/, '').replace(/\/[^/]*$/, '');
  return {
    level: 'error',
    schema: { loadingURI: '#', pointer: schemaPointer },
    instance: { pointer: e.instancePath },
    domain: 'validation',
    keyword: e.keyword,
    message: e.message ?? 'is not valid',
    ...e.params,
  };
}

/** The merged options, validated (Cosmos' JsonSchemaMismatch / OptionsNotAllowed). */
export function resolveOptions(pkg: PackageDefinition, userOptions: JsonObject | undefined): JsonObject {
  const merged = deepMerge(defaultsOf(pkg.config), userOptions ?? {});
  if (Object.keys(merged).length === 0) return merged;
  if (pkg.config === undefined) throw new CosmosError('OptionsNotAllowed', 'No options are allowed for this package', 400);
  const validate = validatorOf(pkg.config);
  if (!validate(merged)) {
    const errors = (validate.errors ?? []).slice(0, 100).map(cosmosValidationError);
    throw new CosmosError('JsonSchemaMismatch', 'Options JSON failed validation', 400, { errors });
  }
  return merged;
}

/** Java's Double.toString for a non-integral (or out-of-int-range) number. */
function javaDouble(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs === 0 || (abs >= 1e-3 && abs < 1e7)) return Number.isInteger(n) ? `${n}.0` : String(n);
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${exponent.replace('+', '')}`;
}

/** A value as Cosmos hands it to mustache.java (see the header). Numbers become their text, so 0 is truthy. */
function toMustache(v: Json, inArray: boolean): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= 2 ** 31 - 1 ? String(v) : javaDouble(v);
  if (typeof v === 'string') {
    const encoded = JSON.stringify(v);
    return inArray ? encoded : encoded.slice(1, -1);
  }
  if (Array.isArray(v)) return v.map((x) => toMustache(x, true));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = toMustache(x, false);
  return out;
}

/** Mustache, HTML escaping off, no partials; the result must be a JSON object. */
export function renderTemplate(template: string, context: JsonObject): JsonObject {
  let text: string;
  try {
    text = Mustache.render(template, toMustache(context, false), {}, { escape: (s: string) => s });
  } catch (e) {
    throw new CosmosError('InvalidPackage', `The package's marathon.json.mustache is not a valid mustache template: ${(e as Error).message}`, 400);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CosmosError('JsonParsingError', `The rendered Marathon JSON is not JSON: ${(e as Error).message}`, 400, { rendered: text.slice(0, 4096) });
  }
  if (!isObject(parsed)) throw new CosmosError('MarathonTemplateMustBeJsonObject', 'Rendered Marathon JSON must be a JSON object', 400);
  return parsed;
}

const base64Json = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64');

/** Cosmos' label.v1 PackageMetadata: what `package list` shows without fetching the package again. */
export function packageMetadata(pkg: PackageDefinition): JsonObject {
  const images = isObject(pkg.resource?.['images']) ? (pkg.resource['images'] as JsonObject) : undefined;
  const pick = (k: string): JsonObject => (pkg.extra[k] === undefined ? {} : { [k]: pkg.extra[k] as Json });
  return {
    packagingVersion: pkg.packagingVersion,
    name: pkg.name,
    version: pkg.version,
    maintainer: pkg.maintainer,
    description: pkg.description,
    tags: pkg.tags,
    selected: pkg.selected,
    ...pick('scm'),
    ...pick('website'),
    framework: pkg.framework,
    ...(pkg.preInstallNotes === undefined ? {} : { preInstallNotes: pkg.preInstallNotes }),
    ...(pkg.postInstallNotes === undefined ? {} : { postInstallNotes: pkg.postInstallNotes }),
    ...(pkg.postUninstallNotes === undefined ? {} : { postUninstallNotes: pkg.postUninstallNotes }),
    ...pick('licenses'),
    ...(images === undefined ? {} : { images }),
  };
}

/** The stored package (DCOS_PACKAGE_DEFINITION): Cosmos' StorageEnvelope around the v4 package. */
export function storageEnvelope(pkg: PackageDefinition): JsonObject {
  const { extra, ...rest } = pkg;
  return { metadata: { 'Content-Type': 'application/vnd.dcos.universe.package+json;charset=utf-8;version=v4' }, data: { ...(rest as unknown as JsonObject), ...(extra as JsonObject) } };
}

export const LABELS = {
  metadata: 'DCOS_PACKAGE_METADATA',
  name: 'DCOS_PACKAGE_NAME',
  version: 'DCOS_PACKAGE_VERSION',
  source: 'DCOS_PACKAGE_SOURCE',
  options: 'DCOS_PACKAGE_OPTIONS',
  definition: 'DCOS_PACKAGE_DEFINITION',
  frameworkName: 'DCOS_PACKAGE_FRAMEWORK_NAME',
} as const;

export interface RenderInput {
  pkg: PackageDefinition;
  /** The repository URI the package came from (DCOS_PACKAGE_SOURCE). */
  sourceUri: string;
  options?: JsonObject | undefined;
  appId?: string | undefined;
}

/** The Marathon app of a package (Cosmos' renderMarathonV2App), or undefined: the package has no template. */
export function renderMarathonApp(input: RenderInput): JsonObject | undefined {
  const { pkg, sourceUri, options, appId } = input;
  const template = templateOf(pkg);
  if (template === undefined) return undefined;
  const merged = resolveOptions(pkg, options);
  const context = pkg.resource === undefined ? merged : deepMerge(merged, { resource: pkg.resource as JsonObject });
  const app = renderTemplate(template, context);
  const labels = app['labels'] ?? {};
  if (!isObject(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
    throw new CosmosError('MarathonTemplateMustBeJsonObject', 'The rendered Marathon JSON\'s "labels" must be an object of strings', 400);
  }
  return {
    ...app,
    ...(appId === undefined ? {} : { id: appId }),
    labels: {
      ...labels,
      [LABELS.metadata]: base64Json(packageMetadata(pkg)),
      [LABELS.name]: pkg.name,
      [LABELS.version]: pkg.version,
      [LABELS.source]: sourceUri,
      [LABELS.options]: base64Json(options ?? {}),
      [LABELS.definition]: base64Json(storageEnvelope(pkg)),
    },
  };
}

export type { Json, JsonObject };
