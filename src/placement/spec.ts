/**
 * From what a framework knows (an app's or a job run's cpus, mem, disk, ports and constraints) to
 * a PlacementSpec: scalars parsed and constraints compiled once. Frameworks cache the spec per
 * app or job version (a WeakMap keyed by the immutable App or Job), so 50,000 instances of one
 * app parse and compile once.
 */
import { Resources } from '../resources/index.ts';
import { compileConstraint, isOperator } from './constraints.ts';
import type { PlacementSpec, PortRequest } from './types.ts';

export interface SpecInput {
  cpus: number;
  mem: number;
  disk: number;
  ports: PortRequest;
  /** Marathon's form: `[field, operator]` or `[field, operator, value]`. */
  constraints: ReadonlyArray<readonly string[]>;
}

export function placementSpec(input: SpecInput): PlacementSpec {
  const scalars = Resources.parse(`cpus:${input.cpus};mem:${input.mem}${input.disk > 0 ? `;disk:${input.disk}` : ''}`);
  const constraints = input.constraints.map(([field = '', operator = '', value]) => {
    // The schemas refuse unknown operators; a definition that slipped past them must not place.
    if (!isOperator(operator)) throw new Error(`unknown constraint operator '${operator}'`);
    return compileConstraint(field, operator, value);
  });
  return { scalars, ports: input.ports, constraints };
}
