export * from './wire.js';
export * from './parse.js';
export * from './encode.js';
export * from './classroom/schemas.js';
export * from './classroom/index.js';
export * from './presence-events.js';
