/**
 * Node 20 entry: the same client, with `ws` as the default WebSocket, as Node 20 has no global one.
 * `npm install ws` beside `@classwire/client` to use it. On Node 22 and newer import the main entry
 * instead: it uses the global WebSocket and needs no `ws`.
 * @module @classwire/client/node
 */
import type { ClassroomEventMap } from '@classwire/protocol/wire';
import WebSocket from 'ws';
import { ClasswireClient, type ClientOptions } from './client.js';
import type { WebSocketConstructor } from './connection.js';

export * from './index.js';

export function connect<Events = ClassroomEventMap>(options: ClientOptions): ClasswireClient<Events> {
  const client = new ClasswireClient<Events>({ WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });
  void client.connect().catch(() => undefined);
  return client;
}
