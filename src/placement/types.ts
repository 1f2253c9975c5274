/**
 * The vocabulary of placement: what is offered (OfferView), where instances already run (Spot),
 * what one instance needs (PlacementSpec, built once per app or job version), and why an offer was
 * refused (Refusal). Frameworks translate their own objects into these; nothing here knows an App
 * or a Job.
 */
import type { Resources } from '../resources/index.ts';
import type { CompiledConstraint, Operator } from './constraints.ts';

/** One offer as placement sees it. `resources` is what is left of it for this spec. */
export interface OfferView {
  agentId: string;
  hostname: string;
  attributes: Readonly<Record<string, string>>;
  resources: Resources;
}

/** Where an instance of the same app already runs (or was just placed). */
export interface Spot {
  agentId: string;
  hostname: string;
  attributes: Readonly<Record<string, string>>;
}

/** Host ports one instance needs: none, `count` of any free ones, or exactly these. */
export type PortRequest = { kind: 'any'; count: number } | { kind: 'fixed'; ports: readonly number[] };

/**
 * What one instance needs, compiled once per app or job version (placementSpec in spec.ts):
 * the scalars parsed, the constraints' patterns compiled.
 */
export interface PlacementSpec {
  /** cpus, mem and disk of one instance, unreserved (the offer's roles are chosen at claim time). */
  readonly scalars: Resources;
  readonly ports: PortRequest;
  readonly constraints: readonly CompiledConstraint[];
}

/** Why one more instance does not go on this offer. `message` is what /v2/queue and /v1/queue show. */
export type Refusal =
  | { checker: 'constraint'; field: string; operator: Operator; value: string | undefined; message: string }
  | { checker: 'resources'; resource: 'cpus' | 'mem' | 'disk'; have: number; need: number; message: string }
  | { checker: 'ports'; wanted: number; free: number; unavailable: readonly number[]; message: string };

/** One instance placed: its host ports and the resources it takes, in the offer's own roles. */
export interface Launch {
  ports: number[];
  resources: Resources;
}

export interface PlacementResult {
  launches: Launch[];
  /** Why (more) instances could not be placed here; undefined when all wanted were placed. */
  refusal?: Refusal;
  /** `refusal.message`, the string the queues show. */
  reason?: string;
  /** The offer's resources left after these launches. */
  remaining: Resources;
}
