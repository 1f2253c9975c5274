export { Scalar } from './scalar.ts';
export { RangeSet } from './range-set.ts';
export type { Range } from './range-set.ts';
export { ValueSet } from './value-set.ts';
export { PortPool, MAX_PORT } from './port-pool.ts';
export { Resources, DEFAULT_ROLE } from './resources.ts';
export type { Resource, ResourceJSON, ResourceType, ResourceValue, ScalarEntry } from './resources.ts';
