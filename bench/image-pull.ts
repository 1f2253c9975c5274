/**
 * Cold pull of a ~50 MB image from a loopback docker-registry: Drover's puller + layer store
 * (download, sha256 of every byte, gunzip, untar into the store) against `skopeo copy
 * docker://… oci:DIR` (download and verify, no extraction), alternating, `--runs=N` each (default 3).
 * Prints medians in ms and the ratio drover/skopeo (issue 17's goal: ≤ 1.5).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBigImage, buildTestImages, pushImage, startRegistry } from '../devkit/registry.ts';
import { LayerStore } from '../src/images/layer-store.ts';
import { Puller } from '../src/images/puller.ts';

const run = promisify(execFile);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export default async function imagePull(flags: string[]): Promise<Record<string, unknown>> {
  const runs = Number(flags.find((f) => f.startsWith('--runs='))?.slice(7) ?? 3);
  const megabytes = Number(flags.find((f) => f.startsWith('--mb='))?.slice(5) ?? 50);
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-image-'));
  const registry = await startRegistry({ dir });
  try {
    const images = await buildTestImages(dir);
    await buildBigImage(images, dir, 'big', megabytes);
    await pushImage(images, 'big', registry, 'bench/big:latest');
    const reference = `${registry.host}/bench/big:latest`;
    const drover: number[] = [];
    const skopeo: number[] = [];
    for (let i = 0; i < runs; i++) {
      const store = new LayerStore(join(dir, `drover-${i}`), new Puller());
      await store.open();
      let start = performance.now();
      await store.pull(reference);
      drover.push(performance.now() - start);
      start = performance.now();
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reference}`, `oci:${join(dir, `skopeo-${i}`)}:big`]);
      skopeo.push(performance.now() - start);
      await rm(join(dir, `drover-${i}`), { recursive: true, force: true });
      await rm(join(dir, `skopeo-${i}`), { recursive: true, force: true });
    }
    const droverMs = Math.round(median(drover));
    const skopeoMs = Math.round(median(skopeo));
    return {
      bench: 'image-pull',
      megabytes,
      runs,
      droverColdPullMs: droverMs,
      skopeoCopyMs: skopeoMs,
      ratio: Math.round((droverMs / skopeoMs) * 100) / 100,
      droverAllMs: drover.map(Math.round),
      skopeoAllMs: skopeo.map(Math.round),
      note: 'drover also unpacks the layer into the store; skopeo only copies the blobs',
    };
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
