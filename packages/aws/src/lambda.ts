/**
 * The Lambda bundle's entry (scripts/bundle.js): one module, one handler export per function. The
 * handlers are built on the first event and reused while the execution environment is warm.
 * `createHandlers` is exported too, so the API Gateway emulator (`@classwire/apigw-emulator`) can run this very bundle.
 */
import type { AuthorizerResult, RequestAuthorizerEvent, WebSocketEvent, WebSocketResult } from './events.js';
import { createHandlers, type ClasswireHandlers } from './handlers.js';

export { createHandlers };

let handlers: ClasswireHandlers | undefined;
const current = () => (handlers ??= createHandlers(process.env));

export const authorizer = (event: RequestAuthorizerEvent): Promise<AuthorizerResult> => current().authorizer(event);
export const connect = (event: WebSocketEvent): Promise<WebSocketResult> => current().connect(event);
export const disconnect = (event: WebSocketEvent): Promise<WebSocketResult> => current().disconnect(event);
export const message = (event: WebSocketEvent): Promise<WebSocketResult> => current().message(event);
export const sweep = (): Promise<{ disconnected: number }> => current().sweep();
