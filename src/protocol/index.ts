export * from './errors.ts';
export * from './recordio.ts';
export * from './validation.ts';
