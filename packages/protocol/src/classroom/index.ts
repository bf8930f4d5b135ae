/**
 * `@classwire/protocol/classroom`: the classroom's events, state types and rules (who may do what, what
 * each control event changes), shared by the server (core) and the app. No schema library here: the
 * validators are in `schemas.ts`, exported from the package's main entry.
 * @module @classwire/protocol/classroom
 */
export * from './types.js';
export * from './board.js';
export * from './polls.js';
export * from './timer.js';
export * from './announcements.js';
export * from './reactions.js';
export * from './breakout.js';
export * from './roles.js';
export * from './control.js';
export * from './permissions.js';
export * from './client-state.js';
export * from './poll-state.js';
export * from './viewer-permissions.js';
export type { Member, Role, Sender } from '../types.js';
