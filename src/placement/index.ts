export { placeOn, PIPELINE } from './pipeline.ts';
export { placementSpec, type SpecInput } from './spec.ts';
export { inOfferRoles } from './claim.ts';
export { fieldValue, isOperator } from './constraints.ts';
export { OPERATORS, type Operator, type CompiledConstraint } from './types.ts';
export { patternProblem, MAX_PATTERN_LENGTH } from './pattern.ts';
export type { OfferView, Spot, PlacementSpec, PortRequest, Refusal, Launch, PlacementResult } from './types.ts';
