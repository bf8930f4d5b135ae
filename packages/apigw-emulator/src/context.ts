import type { GatewayConfig } from '@classwire/gateway';
import type { Connection } from '@classwire/gateway/http';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { ApiGatewayEmulatorConfig } from './config.js';
import type { EventSource } from './events.js';
import type { Functions } from './functions.js';
import type { EmulatorMetrics } from './metrics.js';

/** One open WebSocket of the emulated API. */
export interface EmulatedConnection {
  source: EventSource;
  connection: Connection;
  socket: WebSocket;
  idleTimer: NodeJS.Timeout;
  maxTimer: NodeJS.Timeout;
}

/** What the emulator's modules (upgrade, connection pump, routes) share while it runs. */
export interface EmulatorContext {
  config: GatewayConfig;
  apigw: ApiGatewayEmulatorConfig;
  logger: Logger;
  metrics: EmulatorMetrics;
  /** Open connections by id. */
  live: Map<string, EmulatedConnection>;
  /** Connections whose `$connect` is still running: they do not exist yet for @connections. */
  connecting: Set<string>;
  /** The functions, once built: they are built after listening, as the callback URL carries the port. */
  functions(): Functions | undefined;
  isDraining(): boolean;
  /** Keeps a promise until it settles; a drain waits for every tracked one. */
  track<T>(promise: Promise<T>): Promise<T>;
  /** Invokes a function as the integration does (`invoke` in functions.ts with this API's timeout). */
  invoke<E, R>(route: string, fn: (event: E) => Promise<R>, event: E): Promise<PromiseSettledResult<R>>;
}
