/**
 * The app definition is checked in the browser with the very schema the API validates with
 * (src/frameworks/services/app-schema.ts, compiled by src/protocol/validation.ts), so most mistakes
 * are shown before a request is made. The server stays the judge: its 422 details are shown too.
 */
import { AppDefinition, semanticErrors, unsupportedFields } from '../../src/frameworks/services/app-schema.ts';
import { compileValidator } from '../../src/protocol/validation.ts';
import type { ErrorDetail } from './api.ts';

const schema = compileValidator(AppDefinition);

export function validateApp(value: unknown): ErrorDetail[] {
  const details = schema.details(value);
  if (details.length > 0) return details;
  const app = value as AppDefinition;
  return [...unsupportedFields(app), ...semanticErrors(app)];
}
