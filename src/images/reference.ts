/**
 * Image references: `[REGISTRY_HOST[:PORT]/]NAME[:TAG][@sha256:HEX]`, Docker's grammar.
 *
 * A reference arrives from requests (an app's `docker.image`, `drover image pull`), so it is parsed
 * by a bounded hand-written scanner: at most 512 characters, each part checked character by
 * character, no regular expression over the input.
 */
import { DroverError } from '../errors/errors.ts';

export const MAX_REFERENCE_LENGTH = 512;
const MAX_NAME_LENGTH = 255;
const MAX_TAG_LENGTH = 128;

/** Docker Hub: references without a registry name it; its API lives on another host. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export interface ImageReference {
  /** `docker.io`, or `host[:port]` as written (lower-cased). */
  readonly registry: string;
  /** The repository path, e.g. `library/busybox`, `drover/hello`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** The normalised form: `registry/repository[:tag][@digest]` (tag `latest` when neither is given). */
  readonly canonical: string;
}

function refuse(reference: string, reason: string): DroverError {
  const shown = reference.length > 80 ? `${reference.slice(0, 80)}…` : reference;
  return new DroverError('IMAGE_REFERENCE', `invalid image reference '${shown}': ${reason}`, { details: [{ path: '/image', errors: [reason] }] });
}

const isLowerAlnum = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
const isAlnum = (c: string): boolean => isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
const isHex = (c: string): boolean => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');

/** One path component: lower-case alphanumerics separated by `.`, `_`, `__` or runs of `-`. */
function validComponent(component: string): boolean {
  if (component.length === 0) return false;
  if (!isLowerAlnum(component[0]!) || !isLowerAlnum(component[component.length - 1]!)) return false;
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (isLowerAlnum(c) || c === '-') continue;
    if (c === '.' || c === '_') {
      const next = component[i + 1];
      // `.`, `_` and `__` separate; a separator never touches another (but `__` and `-` runs).
      if (c === '_' && next === '_') {
        i++;
        if (!isLowerAlnum(component[i + 1] ?? '')) return false;
        continue;
      }
      if (!isLowerAlnum(next ?? '')) return false;
      continue;
    }
    return false;
  }
  return true;
}

function validHost(host: string): boolean {
  const colon = host.indexOf(':');
  const name = colon === -1 ? host : host.slice(0, colon);
  if (name.length === 0 || name.length > 253) return false;
  for (const c of name) if (!(isAlnum(c) || c === '.' || c === '-')) return false;
  if (colon === -1) return true;
  const port = host.slice(colon + 1);
  if (port.length === 0 || port.length > 5) return false;
  for (const c of port) if (c < '0' || c > '9') return false;
  return Number(port) > 0 && Number(port) < 65536;
}

function validTag(tag: string): boolean {
  if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) return false;
  if (!(isAlnum(tag[0]!) || tag[0] === '_')) return false;
  for (const c of tag) if (!(isAlnum(c) || c === '_' || c === '.' || c === '-')) return false;
  return true;
}

export function validDigest(digest: string): boolean {
  if (!digest.startsWith('sha256:') || digest.length !== 7 + 64) return false;
  for (let i = 7; i < digest.length; i++) if (!isHex(digest[i]!)) return false;
  return true;
}

export function parseReference(input: unknown): ImageReference {
  if (typeof input !== 'string') throw refuse(String(input).slice(0, 40), 'must be a string');
  if (input.length === 0) throw refuse(input, 'must not be empty');
  if (input.length > MAX_REFERENCE_LENGTH) throw refuse(input, `longer than ${MAX_REFERENCE_LENGTH} characters`);
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!validDigest(digest)) throw refuse(input, 'the digest must be sha256: and 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!validTag(tag)) throw refuse(input, 'the tag must be [A-Za-z0-9_][A-Za-z0-9._-]{0,127}');
  }
  let registry = DOCKER_HUB;
  const firstSlash = rest.indexOf('/');
  if (firstSlash !== -1) {
    const first = rest.slice(0, firstSlash);
    // Docker's rule: the first component names a registry when it has a dot or a port, or is localhost.
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!validHost(first)) throw refuse(input, `'${first.slice(0, 80)}' is not a valid registry host[:port]`);
      registry = first.toLowerCase();
      rest = rest.slice(firstSlash + 1);
    }
  }
  if (rest.length === 0 || rest.length > MAX_NAME_LENGTH) throw refuse(input, `the name must have 1 to ${MAX_NAME_LENGTH} characters`);
  const components = rest.split('/');
  for (const component of components) {
    if (!validComponent(component)) throw refuse(input, `name component '${component.slice(0, 80)}' must be lower-case alphanumerics separated by '.', '_', '__' or '-'`);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  const repository = registry === DOCKER_HUB && components.length === 1 ? `library/${rest}` : rest;
  const effectiveTag = tag ?? (digest === undefined ? 'latest' : undefined);
  const canonical = `${registry}/${repository}${effectiveTag === undefined ? '' : `:${effectiveTag}`}${digest === undefined ? '' : `@${digest}`}`;
  return {
    registry,
    repository,
    ...(effectiveTag === undefined ? {} : { tag: effectiveTag }),
    ...(digest === undefined ? {} : { digest }),
    canonical,
  };
}

/** What to ask the registry's manifests endpoint for: the digest when pinned, else the tag. */
export function manifestSelector(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? 'latest';
}
