/**
 * Placement of instances of one spec on one offer: the checkers in PIPELINE, in order, for each
 * instance; the first refusal stops the offer and is reported. Pure, and fast on the hot path
 * (50,000 instances on 1,000 offers): offer-only constraint checks run once per offer, the
 * instance counts per field are built once per offer and updated as instances are placed.
 */
import type { Resources } from '../resources/index.ts';
import { claim } from './claim.ts';
import { missing } from './constraint-checkers.ts';
import { fieldValue, type CompiledConstraint } from './constraints.ts';
import { portShortfall, scalarShortfall } from './resource-checkers.ts';
import type { Launch, OfferView, PlacementResult, PlacementSpec, Refusal, Spot } from './types.ts';

/** One more instance of `spec` on `offer`, with `remaining` left of it. */
interface Candidate {
  readonly spec: PlacementSpec;
  readonly offer: OfferView;
  readonly remaining: Resources;
  /** Per constraint (same index): the offer's value of its field. */
  readonly here: ReadonlyArray<string | undefined>;
  /** Per constraint: the verdict of an offer-only check, decided once per offer. */
  readonly offerVerdicts: ReadonlyArray<Refusal | undefined>;
  /** Per constrained field: instances per value, this offer's launches included. */
  readonly counts: ReadonlyMap<string, Map<string, number>>;
}

type Checker = (candidate: Candidate) => Refusal | undefined;

/** The pipeline, in the order refusals are reported: constraints, then scalars, then ports. */
export const PIPELINE: ReadonlyArray<readonly [name: string, check: Checker]> = [
  ['constraints', (c) => constraintRefusal(c)],
  ['resources', (c) => scalarShortfall(c.spec, c.remaining)],
  ['ports', (c) => portShortfall(c.spec, c.remaining)],
];

/**
 * Up to `wanted` instances of `spec` on `offer`, given where instances already run (`existing`,
 * read only: the offer's own launches are counted internally). Stops at the first refusal.
 */
export function placeOn(spec: PlacementSpec, offer: OfferView, existing: readonly Spot[], wanted: number): PlacementResult {
  const launches: Launch[] = [];
  let remaining = offer.resources;
  if (wanted <= 0) return { launches, remaining };
  const here = spec.constraints.map((c) => fieldValue(c.field, offer));
  const offerVerdicts = spec.constraints.map((c, i) => (c.check.kind === 'offer' ? refusalOf(c, c.check.run(c, here[i])) : undefined));
  const counts = countByField(spec.constraints, existing);
  for (let i = 0; i < wanted; i++) {
    const candidate: Candidate = { spec, offer, remaining, here, offerVerdicts, counts };
    for (const [, check] of PIPELINE) {
      const refusal = check(candidate);
      if (refusal) return { launches, refusal, reason: refusal.message, remaining };
    }
    const launch = claim(spec, remaining);
    remaining = remaining.subtract(launch.resources);
    launches.push(launch);
    for (const [field, perValue] of counts) {
      const value = fieldValue(field, offer);
      if (value !== undefined) perValue.set(value, (perValue.get(value) ?? 0) + 1);
    }
  }
  return { launches, remaining };
}

function constraintRefusal(candidate: Candidate): Refusal | undefined {
  const { spec, here, offerVerdicts, counts } = candidate;
  for (let i = 0; i < spec.constraints.length; i++) {
    const c = spec.constraints[i]!;
    if (c.check.kind === 'offer') {
      if (offerVerdicts[i]) return offerVerdicts[i];
      continue;
    }
    const value = here[i];
    if (value === undefined) return refusalOf(c, missing(c));
    const perValue = counts.get(c.field)!;
    const refusal = refusalOf(c, c.check.run(c, value, perValue.get(value) ?? 0, perValue));
    if (refusal) return refusal;
  }
  return undefined;
}

function refusalOf(c: CompiledConstraint, text: string | undefined): Refusal | undefined {
  if (text === undefined) return undefined;
  return { checker: 'constraint', field: c.field, operator: c.operator, value: c.value, message: `${c.label}: ${text}` };
}

/** Instances per value of every field a spread constraint reads, in the order the spots list them. */
function countByField(constraints: readonly CompiledConstraint[], spots: readonly Spot[]): Map<string, Map<string, number>> {
  const counts = new Map<string, Map<string, number>>();
  for (const c of constraints) {
    if (c.check.kind !== 'spread' || counts.has(c.field)) continue;
    const perValue = new Map<string, number>();
    for (const s of spots) {
      const v = fieldValue(c.field, s);
      if (v !== undefined) perValue.set(v, (perValue.get(v) ?? 0) + 1);
    }
    counts.set(c.field, perValue);
  }
  return counts;
}
