/**
 * Node entry: the same client, with `ws` as the default WebSocket (Node 20 has no global WebSocket).
 * `npm install ws` beside `@classwire/client` to use it.
 * @module @classwire/client/node
 */
import WebSocket from 'ws';
import { ClasswireClient, type ClientOptions } from './client.js';
import type { WebSocketConstructor } from './connection.js';

export * from './index.js';

export function connect(options: ClientOptions): ClasswireClient {
  const client = new ClasswireClient({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });
  void client.connect().catch(() => undefined);
  return client;
}
