import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import type { ConnectionState, NetworkStatus, RoomMessage } from '../src/node.js';
import { collect, eventually, makeToken, sdkClient, startRuntime, wsUrl } from './helpers.js';

/** The browser's window as the SDK sees it: `online`/`offline` events and `navigator.onLine`. */
class Network extends EventTarget implements NetworkStatus {
  onLine = true;

  set(onLine: boolean): void {
    this.onLine = onLine;
    this.dispatchEvent(new Event(onLine ? 'online' : 'offline'));
  }
}

describe('network awareness', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime('gateway');
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('reports offline on the offline event and reconnects at once on online, resuming its rooms', async () => {
    const network = new Network();
    // A reconnect that waited for the backoff would take about a minute.
    const client = sdkClient(wsUrl(gateway), {
      token: await makeToken({ rooms: ['net'] }),
      network,
      reconnect: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
      random: () => 0.99,
    });
    const publisher = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['net'] }) });
    const states: ConnectionState[] = [];
    client.on('state', ({ state }) => states.push(state));
    const room = client.join('net');
    const publisherRoom = publisher.join('net');
    await Promise.all([room.ready, publisherRoom.ready]);
    const seen: RoomMessage[] = [];
    room.on('note', collect(seen));

    network.set(false);
    await eventually(() => client.state === 'offline');
    // Published while this client is offline: the resume replays it.
    await publisherRoom.publish('note', 'missed');
    network.set(true);
    await eventually(() => seen.length === 1);
    expect(seen.map((m) => [m.seq, m.data])).toEqual([[1, 'missed']]);
    expect(client.state).toBe('open');
    expect(states.slice(states.indexOf('offline'))).toEqual(['offline', 'connecting', 'open']);
    client.close();
    publisher.close();
  });

  it('does not retry while the network is known to be down; online tries again at once', async () => {
    const network = new Network();
    network.onLine = false;
    const states: ConnectionState[] = [];
    // Nothing listens there: every attempt fails.
    const client = sdkClient('ws://127.0.0.1:9/ws', { token: await makeToken({ rooms: ['net'] }), network });
    client.on('state', ({ state }) => states.push(state));
    await eventually(() => client.state === 'offline');
    network.set(true);
    await eventually(() => client.state === 'reconnecting');
    expect(states).toEqual(['connecting', 'offline', 'connecting', 'reconnecting']);
    client.close();
  });
});
