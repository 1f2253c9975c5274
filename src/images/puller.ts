/**
 * Resolves an image reference to a verified manifest and config: the pull flow of the OCI
 * distribution spec, as containerd does it (index → platform manifest → config + layers).
 *
 *   manifests/<tag|digest>  with every manifest type in Accept; an index or list picks the
 *                           agent's platform and fetches that manifest by digest
 *   blobs/<config digest>   the image config (Entrypoint, Cmd, Env, diff_ids)
 *
 * Every manifest and config is hashed before it is believed: against the digest asked for, and
 * against `Docker-Content-Digest` when the registry sends one. Layers are left to the layer store,
 * which streams each through `openBlob` into layer-extract.ts.
 *
 * Docker Hub references go to `--registry-mirror`s first (in order), then to Docker Hub, as
 * dockerd does; other registries are asked directly.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DroverError, isDroverError } from '../errors/errors.ts';
import type { DockerConfig } from './auth.ts';
import {
  choosePlatform,
  hostPlatform,
  MANIFEST_ACCEPT,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseImageConfig,
  parseManifest,
  type Descriptor,
  type ImageConfig,
  type LayerDescriptor,
  type Platform,
} from './manifest.ts';
import { DOCKER_HUB, DOCKER_HUB_API_HOST, manifestSelector, type ImageReference } from './reference.ts';
import { isLoopbackHost, readBounded, registryBase, RepositorySession, type TransportPolicy } from './registry-client.ts';

export interface PullerOptions {
  /** Default: this machine's (linux/amd64 on x64). */
  platform?: Platform;
  /** `host[:port]` of registries reached over plain HTTP (loopback always may). */
  insecureRegistries?: readonly string[];
  /** Base URLs of Docker Hub mirrors, tried in order before Docker Hub. */
  mirrors?: readonly string[];
  /** A registry silent for this long fails the request (default 60 s). */
  idleTimeoutMs?: number;
}

export interface ResolvedImage {
  readonly reference: ImageReference;
  readonly session: RepositorySession;
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  readonly configDigest: string;
  readonly config: ImageConfig;
  readonly layers: readonly LayerDescriptor[];
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Checks `--registry-mirror` and `--insecure-registry` values; a bad one is a configuration error. */
export function checkPullerOptions(options: PullerOptions): void {
  for (const mirror of options.mirrors ?? []) {
    let url: URL;
    try {
      url = new URL(mirror);
    } catch {
      throw new DroverError('CONFIG', `--registry-mirror '${mirror.slice(0, 100)}' is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DroverError('CONFIG', `--registry-mirror '${mirror.slice(0, 100)}' must be http(s)`);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !(options.insecureRegistries ?? []).includes(url.host)) {
      throw new DroverError('CONFIG', `--registry-mirror '${mirror.slice(0, 100)}' is plain HTTP: name its host in --insecure-registry too`);
    }
  }
  for (const host of options.insecureRegistries ?? []) {
    if (host.length === 0 || host.length > 260 || host.includes('/')) throw new DroverError('CONFIG', `--insecure-registry '${host.slice(0, 100)}' must be host[:port]`);
  }
}

export class Puller {
  private readonly policy: TransportPolicy;
  readonly platform: Platform;

  constructor(private readonly options: PullerOptions = {}) {
    checkPullerOptions(options);
    this.platform = options.platform ?? hostPlatform();
    this.policy = { insecureRegistries: options.insecureRegistries ?? [], idleTimeoutMs: options.idleTimeoutMs ?? 60_000 };
  }

  async resolve(reference: ImageReference, secrets: DockerConfig = {}): Promise<ResolvedImage> {
    const credentials = secrets[reference.registry];
    if (reference.registry !== DOCKER_HUB) {
      return this.resolveAt(reference, new RepositorySession(reference.canonical, registryBase(reference.registry, this.policy), reference.repository, credentials, this.policy));
    }
    let lastError: unknown;
    for (const mirror of this.options.mirrors ?? []) {
      const base = new URL(mirror);
      try {
        return await this.resolveAt(reference, new RepositorySession(reference.canonical, new URL(base.origin), reference.repository, secrets[base.host], this.policy));
      } catch (error) {
        // A mirror that lacks the image or is down is skipped; a digest mismatch is not an outage.
        if (isDroverError(error, 'IMAGE_DIGEST_MISMATCH')) throw error;
        lastError = error;
      }
    }
    try {
      return await this.resolveAt(reference, new RepositorySession(reference.canonical, new URL(`https://${DOCKER_HUB_API_HOST}`), reference.repository, credentials, this.policy));
    } catch (error) {
      throw lastError !== undefined && !isDroverError(error) ? lastError : error;
    }
  }

  /** A layer's bytes as the registry sends them (unverified: layer-extract.ts hashes them). */
  openBlob(image: ResolvedImage, layer: Descriptor): Promise<IncomingMessage> {
    return image.session.get(`blobs/${layer.digest}`);
  }

  private async resolveAt(reference: ImageReference, session: RepositorySession): Promise<ResolvedImage> {
    const image = reference.canonical;
    let { bytes, contentType, digest } = await this.manifest(session, manifestSelector(reference), reference.digest, image);
    let parsed = parseManifest(bytes, contentType, image);
    if (parsed.kind === 'index') {
      const chosen = choosePlatform(parsed.manifests, this.platform, image);
      ({ bytes, contentType, digest } = await this.manifest(session, chosen.digest, chosen.digest, image));
      parsed = parseManifest(bytes, contentType, image);
      if (parsed.kind !== 'manifest') throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: an index inside an index is not supported`);
    }
    const zstd = parsed.layers.find((l) => l.compression === 'zstd');
    if (zstd !== undefined) {
      // Node 20's zlib has no zstd (Node 22.15 does): refused before a layer is fetched.
      throw new DroverError('IMAGE_UNSUPPORTED', `pulling ${image}: layer ${zstd.digest} is zstd-compressed, which this agent cannot decompress (Node 20 has no zstd)`);
    }
    if (parsed.config.size > MAX_CONFIG_BYTES) throw new DroverError('IMAGE_PULL_FAILED', `pulling ${image}: config of ${parsed.config.size} bytes, more than ${MAX_CONFIG_BYTES}`);
    const configResponse = await session.get(`blobs/${parsed.config.digest}`);
    const configBytes = await readBounded(configResponse, parsed.config.size, 'image config', image);
    if (sha256(configBytes) !== parsed.config.digest) {
      throw new DroverError('IMAGE_DIGEST_MISMATCH', `pulling ${image}: config ${parsed.config.digest} arrived as ${sha256(configBytes)}: refused`);
    }
    const config = parseImageConfig(configBytes, image);
    if (config.diffIds.length !== parsed.layers.length) {
      throw new DroverError('IMAGE_PULL_FAILED', `pulling ${image}: the config lists ${config.diffIds.length} diff_ids for ${parsed.layers.length} layers`);
    }
    return { reference, session, manifestDigest: digest, manifestMediaType: parsed.mediaType, configDigest: parsed.config.digest, config, layers: parsed.layers };
  }

  private async manifest(session: RepositorySession, selector: string, expected: string | undefined, image: string): Promise<{ bytes: Buffer; contentType: string | undefined; digest: string }> {
    const response = await session.get(`manifests/${selector}`, { accept: MANIFEST_ACCEPT });
    const bytes = await readBounded(response, MAX_MANIFEST_BYTES, 'manifest', image);
    const digest = sha256(bytes);
    const header = response.headers['docker-content-digest'];
    const claimed = expected ?? (typeof header === 'string' && header.startsWith('sha256:') ? header : undefined);
    if (claimed !== undefined && claimed !== digest) {
      throw new DroverError('IMAGE_DIGEST_MISMATCH', `pulling ${image}: manifest ${claimed} arrived as ${digest}: refused`);
    }
    return { bytes, contentType: response.headers['content-type'], digest };
  }
}
