/**
 * The wire format without the validator: types, catalogues and limits. Browser code (the SDK) imports
 * `@classwire/protocol/wire`, which pulls in no schema library.
 * @module @classwire/protocol/wire
 */
export * from './errors.js';
export * from './close-codes.js';
export * from './limits.js';
export * from './types.js';
export * from './classroom/types.js';
export type { BoardPages, PageBrowseData, PageData, PageIdData, TextData } from './classroom/board.js';
// Not from encode.js: the SDK needs this helper, not the server's frame encoders.
export { utf8Length } from './utf8.js';
export type * from './admin.js';
export type * from './records.js';
