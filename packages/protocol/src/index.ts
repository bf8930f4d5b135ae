export * from './errors.js';
export * from './close-codes.js';
export * from './limits.js';
export * from './frames.js';
export * from './encode.js';
