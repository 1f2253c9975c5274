export { placeOn, PIPELINE } from './pipeline.ts';
export { placementSpec, type SpecInput } from './spec.ts';
export { fieldValue, OPERATORS, isOperator, type Operator, type CompiledConstraint } from './constraints.ts';
export { patternProblem, MAX_PATTERN_LENGTH } from './pattern.ts';
export type { OfferView, Spot, PlacementSpec, PortRequest, Refusal, Launch, PlacementResult } from './types.ts';
