/**
 * The jobs framework's side of placement (src/placement): a job run as a PlacementSpec (no ports;
 * IS, LIKE, UNLIKE constraints), built once per job version — a Job is replaced, never changed,
 * when its definition changes, so a WeakMap keyed by it compiles the patterns once.
 */
import { placeOn, placementSpec, type OfferView, type PlacementSpec } from '../../placement/index.ts';
import type { Resources } from '../../resources/index.ts';
import type { Job } from './job.ts';

export type { OfferView };

export type Fit = { resources: Resources } | { reason: string };

const specs = new WeakMap<Job, PlacementSpec>();

function specOf(job: Job): PlacementSpec {
  let spec = specs.get(job);
  if (spec === undefined) {
    const { cpus, mem, disk, placement } = job.run;
    spec = placementSpec({ cpus, mem, disk, ports: { kind: 'any', count: 0 }, constraints: placement.constraints.map((c) => [c.attribute, c.operator, c.value]) });
    specs.set(job, spec);
  }
  return spec;
}

/** One run of `job` on `offer`: the resources it takes, or why not. */
export function fit(job: Job, offer: OfferView): Fit {
  const result = placeOn(specOf(job), offer, [], 1);
  return result.launches[0] ? { resources: result.launches[0].resources } : { reason: result.reason! };
}
