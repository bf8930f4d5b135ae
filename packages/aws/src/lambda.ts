/**
 * The Lambda bundle's entry (scripts/bundle.js): one module, one handler export per function. The
 * handlers are built once per execution environment and reused while it is warm.
 */
import { createHandlers } from './handlers.js';

const handlers = createHandlers(process.env);

export const authorizer = handlers.authorizer;
export const connect = handlers.connect;
export const disconnect = handlers.disconnect;
export const message = handlers.message;
export const sweep = handlers.sweep;
