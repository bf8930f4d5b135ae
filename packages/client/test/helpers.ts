import type { Gateway } from '../../gateway/src/index.js';
import { connect, type ClasswireClient, type ClientOptions, type OpenEventMap, type RoomMessage } from '../src/node.js';

export { startTestGateway, startRuntime, RUNTIMES, makeToken, eventually, API_KEY, SECRET } from '../../../test-support/harness.js';

/** An SDK client (Node entry, `ws`) with fast timers for tests, on generic rooms (the suites' servers run without the classroom). */
export function sdkClient(url: string, options: Partial<ClientOptions> & Pick<ClientOptions, 'token'> | Partial<ClientOptions>): ClasswireClient<OpenEventMap> {
  return connect<OpenEventMap>({
    url,
    reconnect: { baseDelayMs: 50, maxDelayMs: 400 },
    ackTimeoutMs: 2000,
    gapTimeoutMs: 200,
    ...options,
  } as ClientOptions);
}

export function wsUrl(gateway: Gateway): string {
  return `${gateway.url.replace('http', 'ws')}/ws`;
}

/** Collects a room's messages in delivery order. */
export function collect(messages: RoomMessage[]): (message: RoomMessage) => void {
  return (message) => messages.push(message);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
