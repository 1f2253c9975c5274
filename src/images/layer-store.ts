/**
 * The agent's image store under `<work-dir>/images/`: layers extracted once, by digest, shared
 * by every image and task that names them.
 *
 *   layers/<hex>/rootfs/        one extracted layer, whiteouts in overlayfs form (an overlay lowerdir)
 *   layers/<hex>/layer.json     { digest, diffId, size, bytes }
 *   layers/.tmp-<uuid>/         a layer being extracted; renamed to layers/<hex> only when verified
 *   images/<key>.json           one pulled reference: manifest and config digests, layers, times
 *   holds/<holder>              a task (or other holder) using an image: GC never removes it
 *
 * Crash safety: a layer exists only by an atomic rename of a verified, complete temp dir, and an
 * image record only by an atomic rename after all its layers exist; temp dirs are swept at open.
 * Concurrent pulls share: one extraction per layer digest, one resolution per reference.
 * GC (`collect`): images not held and unused for longer than `maxAgeMs`, then the least recently
 * used unheld ones while the layers exceed `maxBytes`; then every layer no image names.
 */
import { randomUUID, createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { DroverError, isDroverError } from '../errors/errors.ts';
import type { Logger } from '../log/index.ts';
import type { DockerConfig } from './auth.ts';
import { extractLayer } from './layer-extract.ts';
import type { ImageConfig, LayerDescriptor } from './manifest.ts';
import type { Puller, ResolvedImage } from './puller.ts';
import { parseReference, type ImageReference } from './reference.ts';

export interface StoredLayer {
  digest: string;
  diffId: string;
  /** Compressed (registry) size. */
  size: number;
  /** Uncompressed size on disk. */
  bytes: number;
}

export interface StoredImage {
  reference: string;
  manifestDigest: string;
  configDigest: string;
  config: ImageConfig;
  /** Layer digests, base first. */
  layers: string[];
  pulledAt: number;
  lastUsedAt: number;
}

export interface ImageSummary extends StoredImage {
  bytes: number;
  holders: number;
}

export interface PullOptions {
  /** Pull secrets by registry (a parsed Docker config.json). */
  secrets?: DockerConfig;
  /** Ask the registry even when the reference is already stored (Marathon's forcePullImage). */
  force?: boolean;
  /**
   * Called as layer bytes arrive: compressed bytes done of the image's total (its manifest's layer
   * sizes; stored layers count as done). A caller joining a pull already running gets its calls too.
   */
  onProgress?: (progress: PullProgress) => void;
}

export interface PullProgress {
  done: number;
  total: number;
}

export interface GcLimits {
  /** Unheld images unused for longer than this go. */
  maxAgeMs?: number;
  /** Unheld images go, least recently used first, while the layers take more than this. */
  maxBytes?: number;
}

const MAX_HOLDER_LENGTH = 200;
const LAYER_CONCURRENCY = 3;
/** How stale an image's lastUsedAt may be (GC ages are minutes to days). */
const LAST_USED_RESOLUTION_MS = 60_000;

const hex = (digest: string): string => digest.slice('sha256:'.length);
const imageKey = (canonical: string): string => createHash('sha256').update(canonical).digest('hex');

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${randomUUID()}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export class LayerStore {
  readonly root: string;
  private readonly layersDir: string;
  private readonly imagesDir: string;
  private readonly holdsDir: string;
  /** When hold() last wrote each image's lastUsedAt (by image key). */
  private readonly touched = new Map<string, number>();
  private readonly layerPulls = new Map<string, Promise<StoredLayer>>();
  private readonly imagePulls = new Map<string, Promise<StoredImage>>();
  /** Layers of pulls in progress: GC must not take them before their image record exists. */
  private readonly pinned = new Map<string, number>();
  /** Progress callbacks of the pulls running, by canonical reference. */
  private readonly progressListeners = new Map<string, Set<(progress: PullProgress) => void>>();

  constructor(
    workDir: string,
    private readonly puller: Puller,
    private readonly logger?: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    this.root = join(workDir, 'images');
    this.layersDir = join(this.root, 'layers');
    this.imagesDir = join(this.root, 'images');
    this.holdsDir = join(this.root, 'holds');
  }

  /** Makes the folders and removes what a crash left half done. */
  async open(): Promise<void> {
    for (const dir of [this.layersDir, this.imagesDir, this.holdsDir]) await mkdir(dir, { recursive: true });
    for (const name of await readdir(this.layersDir)) {
      if (name.startsWith('.')) await rm(join(this.layersDir, name), { recursive: true, force: true });
    }
    for (const name of await readdir(this.imagesDir)) {
      if (name.includes('.tmp-')) await rm(join(this.imagesDir, name), { force: true });
    }
  }

  /** Pulls `reference` (or returns it stored); concurrent pulls of one reference or one layer share the work. */
  pull(input: string, options: PullOptions = {}): Promise<StoredImage> {
    const reference = parseReference(input);
    const key = reference.canonical;
    if (options.onProgress !== undefined) {
      const listeners = this.progressListeners.get(key) ?? new Set();
      listeners.add(options.onProgress);
      this.progressListeners.set(key, listeners);
    }
    const forget = (): void => {
      if (options.onProgress !== undefined) this.progressListeners.get(key)?.delete(options.onProgress);
    };
    const running = this.imagePulls.get(key);
    if (running !== undefined) return running.finally(forget);
    const pull = this.pullOnce(reference, options).finally(() => {
      this.imagePulls.delete(key);
      this.progressListeners.delete(key);
    });
    this.imagePulls.set(reference.canonical, pull);
    return pull;
  }

  private async pullOnce(reference: ImageReference, options: PullOptions): Promise<StoredImage> {
    const path = join(this.imagesDir, `${imageKey(reference.canonical)}.json`);
    if (options.force !== true) {
      const stored = await readJson<StoredImage>(path);
      if (stored !== undefined && (await this.complete(stored))) return stored;
    }
    this.logger?.info({ image: reference.canonical }, 'pulling-image');
    const resolved = await this.puller.resolve(reference, options.secrets);
    const digests = resolved.layers.map((l) => l.digest);
    for (const d of digests) this.pinned.set(d, (this.pinned.get(d) ?? 0) + 1);
    try {
      const progress = { done: 0, total: resolved.layers.reduce((sum, l) => sum + l.size, 0) };
      const report = (bytes: number): void => {
        progress.done += bytes;
        for (const listener of this.progressListeners.get(reference.canonical) ?? []) listener({ ...progress });
      };
      const queue = resolved.layers.map((layer, i) => ({ layer, diffId: resolved.config.diffIds[i]! }));
      const workers = Array.from({ length: Math.min(LAYER_CONCURRENCY, queue.length) }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          let counted = 0;
          await this.ensureLayer(resolved, next.layer, next.diffId, (bytes) => {
            counted += bytes;
            report(bytes);
          });
          // A stored layer (or one another pull fetched) counts whole.
          if (counted < next.layer.size) report(next.layer.size - counted);
        }
      });
      await Promise.all(workers);
      const now = this.clock();
      const image: StoredImage = {
        reference: reference.canonical,
        manifestDigest: resolved.manifestDigest,
        configDigest: resolved.configDigest,
        config: resolved.config,
        layers: digests,
        pulledAt: now,
        lastUsedAt: now,
      };
      await writeAtomic(path, JSON.stringify(image));
      this.logger?.info({ image: reference.canonical, manifest: resolved.manifestDigest, layers: digests.length }, 'pulled-image');
      return image;
    } finally {
      for (const d of digests) {
        const left = (this.pinned.get(d) ?? 1) - 1;
        if (left === 0) this.pinned.delete(d);
        else this.pinned.set(d, left);
      }
    }
  }

  private async complete(image: StoredImage): Promise<boolean> {
    for (const d of image.layers) if ((await this.layer(d)) === undefined) return false;
    return true;
  }

  /** A stored layer, or undefined. */
  layer(digest: string): Promise<StoredLayer | undefined> {
    return readJson<StoredLayer>(join(this.layersDir, hex(digest), 'layer.json'));
  }

  private ensureLayer(image: ResolvedImage, layer: LayerDescriptor, diffId: string, onBytes?: (bytes: number) => void): Promise<StoredLayer> {
    const running = this.layerPulls.get(layer.digest);
    if (running !== undefined) return running;
    const pull = (async () => {
      const stored = await this.layer(layer.digest);
      if (stored !== undefined) return stored;
      const tmp = join(this.layersDir, `.tmp-${randomUUID()}`);
      await mkdir(join(tmp, 'rootfs'), { recursive: true });
      try {
        const response = await image.session.get(`blobs/${layer.digest}`);
        // Bytes counted on their way to the extractor; an error of the response ends the count too.
        const blob =
          onBytes === undefined
            ? response
            : pipeline(
                response,
                new Transform({
                  transform(chunk: Buffer, _encoding, done) {
                    onBytes(chunk.length);
                    done(null, chunk);
                  },
                }),
                () => undefined,
              );
        const extracted = await extractLayer(blob, {
          image: image.reference.canonical,
          layer,
          diffId,
          target: join(tmp, 'rootfs'),
          onWarning: (message) => this.logger?.warn({ image: image.reference.canonical, layer: layer.digest, message }, 'layer-warning'),
        });
        const record: StoredLayer = { digest: layer.digest, diffId, size: layer.size, bytes: extracted.bytes };
        await writeFile(join(tmp, 'layer.json'), JSON.stringify(record));
        // The rename is the commit: before it the layer does not exist, after it it is whole.
        await rename(tmp, join(this.layersDir, hex(layer.digest)));
        return record;
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        throw error;
      }
    })().finally(() => this.layerPulls.delete(layer.digest));
    this.layerPulls.set(layer.digest, pull);
    return pull;
  }

  async get(input: string): Promise<StoredImage | undefined> {
    const reference = parseReference(input);
    return readJson<StoredImage>(join(this.imagesDir, `${imageKey(reference.canonical)}.json`));
  }

  /** The layers' rootfs dirs, base first (overlayfs wants them top first: reverse them). */
  layerDirs(image: StoredImage): string[] {
    return image.layers.map((d) => join(this.layersDir, hex(d), 'rootfs'));
  }

  private async images(): Promise<{ key: string; image: StoredImage }[]> {
    const out: { key: string; image: StoredImage }[] = [];
    for (const name of await readdir(this.imagesDir)) {
      if (!name.endsWith('.json') || name.includes('.tmp-')) continue;
      const image = await readJson<StoredImage>(join(this.imagesDir, name));
      if (image !== undefined) out.push({ key: name.slice(0, -'.json'.length), image });
    }
    return out;
  }

  private async holds(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const name of await readdir(this.holdsDir)) {
      if (name.includes('.tmp-')) continue;
      const key = (await readFile(join(this.holdsDir, name), 'utf8').catch(() => '')).trim();
      if (key !== '') counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  private holderPath(holder: string): string {
    if (holder.length === 0 || holder.length > MAX_HOLDER_LENGTH) throw new DroverError('VALIDATION', `holder must have 1 to ${MAX_HOLDER_LENGTH} characters`);
    return join(this.holdsDir, encodeURIComponent(holder).replace(/\./g, '%2E'));
  }

  /** Marks `input` as used by `holder` (a task): GC keeps it until `release(holder)`. */
  async hold(input: string, holder: string): Promise<StoredImage> {
    const image = await this.get(input);
    if (image === undefined) throw new DroverError('NOT_FOUND', `image ${input.slice(0, 200)} is not stored on this agent`);
    const key = imageKey(image.reference);
    await writeAtomic(this.holderPath(holder), key);
    // lastUsedAt is for age-based GC: rewritten at most once a LAST_USED_RESOLUTION_MS per image,
    // not by each of a burst of launches (a held image is kept whatever its age anyway).
    const now = this.clock();
    if (now - Math.max(image.lastUsedAt, this.touched.get(key) ?? Number.NEGATIVE_INFINITY) >= LAST_USED_RESOLUTION_MS) {
      this.touched.set(key, now);
      image.lastUsedAt = now;
      await writeAtomic(join(this.imagesDir, `${key}.json`), JSON.stringify(image));
    }
    return image;
  }

  async release(holder: string): Promise<void> {
    await rm(this.holderPath(holder), { force: true });
  }

  async list(): Promise<ImageSummary[]> {
    const holds = await this.holds();
    const out: ImageSummary[] = [];
    for (const { key, image } of await this.images()) {
      let bytes = 0;
      for (const d of image.layers) bytes += (await this.layer(d))?.bytes ?? 0;
      out.push({ ...image, bytes, holders: holds.get(key) ?? 0 });
    }
    return out.sort((a, b) => a.reference.localeCompare(b.reference));
  }

  /** Removes a stored image (409 while a task holds it) and the layers no other image uses. */
  async remove(input: string): Promise<void> {
    const reference = parseReference(input);
    const key = imageKey(reference.canonical);
    if (!(await this.images()).some((i) => i.key === key)) throw new DroverError('NOT_FOUND', `image ${reference.canonical} is not stored on this agent`);
    if ((await this.holds()).has(key)) throw new DroverError('CONFLICT', `image ${reference.canonical} is in use by a task`);
    await rm(join(this.imagesDir, `${key}.json`), { force: true });
    this.touched.delete(key);
    await this.sweepLayers();
  }

  /** Image GC; returns the references removed. */
  async collect(limits: GcLimits): Promise<string[]> {
    const now = this.clock();
    const holds = await this.holds();
    const images = await this.images();
    const removed: string[] = [];
    const unheld = images.filter((i) => !holds.has(i.key)).sort((a, b) => a.image.lastUsedAt - b.image.lastUsedAt);
    const drop = async (entry: { key: string; image: StoredImage }): Promise<void> => {
      await rm(join(this.imagesDir, `${entry.key}.json`), { force: true });
      this.touched.delete(entry.key);
      removed.push(entry.image.reference);
    };
    for (const entry of unheld) {
      if (limits.maxAgeMs !== undefined && now - entry.image.lastUsedAt > limits.maxAgeMs) await drop(entry);
    }
    if (limits.maxBytes !== undefined) {
      let total = await this.sweepLayers();
      for (const entry of unheld) {
        if (total <= limits.maxBytes) break;
        if (removed.includes(entry.image.reference)) continue;
        await drop(entry);
        total = await this.sweepLayers();
      }
    }
    await this.sweepLayers();
    if (removed.length > 0) this.logger?.info({ removed }, 'collected-images');
    return removed;
  }

  /** Removes layers no image names (and no pull in progress needs); returns the bytes left. */
  private async sweepLayers(): Promise<number> {
    const wanted = new Set<string>();
    for (const { image } of await this.images()) for (const d of image.layers) wanted.add(hex(d));
    for (const d of this.pinned.keys()) wanted.add(hex(d));
    let total = 0;
    for (const name of await readdir(this.layersDir)) {
      if (name.startsWith('.')) continue;
      if (wanted.has(name)) {
        total += (await readJson<StoredLayer>(join(this.layersDir, name, 'layer.json')))?.bytes ?? 0;
        continue;
      }
      // Renamed away first, so a layer is never seen half deleted.
      const trash = join(this.layersDir, `.trash-${randomUUID()}`);
      try {
        await rename(join(this.layersDir, name), trash);
      } catch (error) {
        if (isDroverError(error)) throw error;
        continue;
      }
      await rm(trash, { recursive: true, force: true });
    }
    return total;
  }
}
