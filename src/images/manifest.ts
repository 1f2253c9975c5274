/**
 * Manifests, indexes and image configs: the four manifest media types (OCI index and manifest,
 * Docker schema2 list and manifest), descriptors checked field by field, the platform choice, and
 * the parts of the image config a container needs. Pure: bytes in, values or a DroverError out.
 */
import { DroverError } from '../errors/errors.ts';
import { validDigest } from './reference.ts';

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Sent on every manifest GET: distribution answers 404 to a client that leaves out the OCI types. */
export const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerList, MediaTypes.dockerManifest].join(', ');

/** Larger manifests are refused before they are read (distribution caps them at 4 MiB too). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** overlayfs takes at most ~128 lower dirs on one mount, as containers/storage notes. */
export const MAX_LAYERS = 127;
const MAX_INDEX_ENTRIES = 1024;

export type LayerCompression = 'gzip' | 'none' | 'zstd';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface LayerDescriptor extends Descriptor {
  compression: LayerCompression;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export type ParsedManifest = { kind: 'index'; manifests: (Descriptor & { platform?: Platform })[] } | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: LayerDescriptor[] };

/** The platform of this agent in OCI terms (Node's `x64` is `amd64`). */
export function hostPlatform(): Platform {
  const architecture = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: 'linux', architecture };
}

function bad(image: string, reason: string): DroverError {
  return new DroverError('IMAGE_PULL_FAILED', `pulling ${image}: malformed manifest: ${reason}`);
}

function descriptor(value: unknown, image: string, where: string): Descriptor {
  const d = value as { mediaType?: unknown; digest?: unknown; size?: unknown } | null;
  if (typeof d !== 'object' || d === null) throw bad(image, `${where} is not an object`);
  if (typeof d.mediaType !== 'string' || d.mediaType.length > 256) throw bad(image, `${where}.mediaType missing`);
  if (typeof d.digest !== 'string' || !validDigest(d.digest)) throw bad(image, `${where}.digest must be a sha256 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(image, `${where}.size must be a non-negative integer`);
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

export function layerCompression(mediaType: string, image: string): LayerCompression {
  switch (mediaType) {
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return 'gzip';
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    default:
      throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: layer media type '${mediaType.slice(0, 100)}' is not supported`);
  }
}

/** Parses a manifest or index by the Content-Type the registry sent (or its own `mediaType`). */
export function parseManifest(bytes: Buffer, contentType: string | undefined, image: string): ParsedManifest {
  let json: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch {
    throw bad(image, 'not JSON');
  }
  if (typeof json !== 'object' || json === null) throw bad(image, 'not an object');
  const type = (contentType ?? '').split(';')[0]!.trim() || (typeof json.mediaType === 'string' ? json.mediaType : '');
  if (json.schemaVersion !== 2) throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: schemaVersion ${String(json.schemaVersion).slice(0, 20)} manifests are not supported (only 2)`);
  const isIndex = type === MediaTypes.ociIndex || type === MediaTypes.dockerList || (type === '' && Array.isArray(json.manifests));
  if (isIndex) {
    if (!Array.isArray(json.manifests) || json.manifests.length > MAX_INDEX_ENTRIES) throw bad(image, `'manifests' must be an array of at most ${MAX_INDEX_ENTRIES}`);
    return {
      kind: 'index',
      manifests: json.manifests.map((entry: unknown, i: number) => {
        const d = descriptor(entry, image, `manifests[${i}]`);
        const p = (entry as { platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }).platform;
        if (typeof p !== 'object' || p === null || typeof p.os !== 'string' || typeof p.architecture !== 'string') return d;
        return { ...d, platform: { os: p.os, architecture: p.architecture, ...(typeof p.variant === 'string' ? { variant: p.variant } : {}) } };
      }),
    };
  }
  if (type !== MediaTypes.ociManifest && type !== MediaTypes.dockerManifest && type !== '') {
    throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: manifest type '${type.slice(0, 100)}' is not supported`);
  }
  const config = descriptor(json.config, image, 'config');
  if (!Array.isArray(json.layers)) throw bad(image, "'layers' must be an array");
  if (json.layers.length > MAX_LAYERS) throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: ${json.layers.length} layers, more than ${MAX_LAYERS}`);
  const layers = json.layers.map((entry: unknown, i: number) => {
    const d = descriptor(entry, image, `layers[${i}]`);
    return { ...d, compression: layerCompression(d.mediaType, image) };
  });
  return { kind: 'manifest', mediaType: type || MediaTypes.ociManifest, config, layers };
}

/** The index entry for `platform`: os and architecture must match; a variant only when both name one. */
export function choosePlatform(manifests: (Descriptor & { platform?: Platform })[], platform: Platform, image: string): Descriptor {
  const fit = manifests.find(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      (platform.variant === undefined || m.platform.variant === undefined || m.platform.variant === platform.variant),
  );
  if (fit === undefined) {
    const offered = manifests.map((m) => (m.platform === undefined ? '?' : `${m.platform.os}/${m.platform.architecture}`)).join(', ');
    throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: no manifest for ${platform.os}/${platform.architecture} (the index has ${offered.slice(0, 300) || 'none'})`);
  }
  return fit;
}

/** What a container takes from an image config (OCI `config` object; Docker's has the same keys). */
export interface RuntimeConfig {
  user?: string;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  diffIds: string[];
  runtime: RuntimeConfig;
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

export function parseImageConfig(bytes: Buffer, image: string): ImageConfig {
  let json: { architecture?: unknown; os?: unknown; rootfs?: { diff_ids?: unknown }; config?: Record<string, unknown> | null };
  try {
    json = JSON.parse(bytes.toString('utf8')) as typeof json;
  } catch {
    throw bad(image, 'the image config is not JSON');
  }
  const diffIds = strings(json.rootfs?.diff_ids);
  if (diffIds === undefined || !diffIds.every(validDigest)) throw bad(image, 'config rootfs.diff_ids must be sha256 digests');
  const c = json.config ?? {};
  const runtime: RuntimeConfig = { env: strings(c['Env']) ?? [] };
  const entrypoint = strings(c['Entrypoint']);
  const cmd = strings(c['Cmd']);
  if (entrypoint !== undefined) runtime.entrypoint = entrypoint;
  if (cmd !== undefined) runtime.cmd = cmd;
  if (typeof c['User'] === 'string' && c['User'] !== '') runtime.user = c['User'];
  if (typeof c['WorkingDir'] === 'string' && c['WorkingDir'] !== '') runtime.workingDir = c['WorkingDir'];
  return { architecture: String(json.architecture ?? ''), os: String(json.os ?? ''), diffIds, runtime };
}
