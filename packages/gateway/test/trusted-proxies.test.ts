import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import type { Gateway } from '../src/index.js';
import { TrustedProxies } from '../src/trusted-proxies.js';
import { API_KEY, RUNTIMES, SECRET, makeToken, startRuntime } from '../../../test-support/harness.js';

/** The address a real request from loopback with this X-Forwarded-For is attributed to. */
async function attributed(proxies: TrustedProxies, forwardedFor: string | undefined): Promise<string> {
  const server = createServer((req: IncomingMessage, res) => res.end(proxies.sourceIpOf(req)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<string>((resolve, reject) => {
      const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
      request({ host: '127.0.0.1', port, headers }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end();
    });
  } finally {
    server.close();
  }
}

describe('TrustedProxies', () => {
  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    expect(await attributed(new TrustedProxies([]), '203.0.113.9')).toBe('127.0.0.1');
    expect(await attributed(new TrustedProxies(['10.0.0.0/8', '::1']), '203.0.113.9')).toBe('127.0.0.1');
  });

  it('takes the nearest untrusted hop behind trusted proxies, IPv4 and IPv6', async () => {
    const proxies = new TrustedProxies(['127.0.0.0/8', '10.1.0.0/16', 'fd00::/8']);
    expect(await attributed(proxies, '203.0.113.9')).toBe('203.0.113.9');
    // The client wrote the first hop itself; the hops the proxies appended are the ones believed.
    expect(await attributed(proxies, '198.51.100.1, 203.0.113.9, 10.1.2.3')).toBe('203.0.113.9');
    expect(await attributed(proxies, '2001:db8::7, fd00::1')).toBe('2001:db8::7');
    expect(await attributed(proxies, undefined)).toBe('127.0.0.1');
    expect(await attributed(proxies, 'not-an-address')).toBe('127.0.0.1');
  });

  it('refuses a malformed entry with the variable named', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'proxy.local', '10.0.0.1/', '10.0.0.0/8/1']) {
      expect(() => loadConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_TRUSTED_PROXIES: bad })).toThrow(/CLASSWIRE_TRUSTED_PROXIES/);
    }
    expect(loadConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_TRUSTED_PROXIES: '10.0.0.0/8, ::1' }).trustedProxies.trusts('10.2.3.4')).toBe(true);
  });
});

describe.each(RUNTIMES)('sourceIp in @connections on %s', (runtime) => {
  const servers: Gateway[] = [];
  let untrusting: Gateway;
  let behindProxy: Gateway;

  beforeAll(async () => {
    untrusting = await startRuntime(runtime);
    behindProxy = await startRuntime(runtime, { CLASSWIRE_TRUSTED_PROXIES: '127.0.0.1/32' });
    servers.push(untrusting, behindProxy);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.drain()));
  });

  /** Connects with a forged X-Forwarded-For and returns the sourceIp the management API reports. */
  async function reportedSourceIp(gateway: Gateway): Promise<string> {
    const stage = runtime === 'gateway' ? '' : '/ws';
    const ws = new WebSocket(`${gateway.url.replace('http', 'ws')}/ws?token=${await makeToken({ rooms: ['ip'] })}`, {
      headers: { 'x-forwarded-for': '203.0.113.66' },
    });
    const joined = new Promise<string>((resolve) => ws.on('message', (data) => resolve((JSON.parse(String(data)) as { connectionId: string }).connectionId)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ action: 'join', room: 'ip', id: 'j' }));
    const connectionId = await joined;
    const response = await fetch(`${gateway.url}${stage}/@connections/${encodeURIComponent(connectionId)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const body = (await response.json()) as { identity: { sourceIp: string } };
    ws.close();
    return body.identity.sourceIp;
  }

  it('records the peer, not a forged X-Forwarded-For, unless the peer is a trusted proxy', async () => {
    expect(await reportedSourceIp(untrusting)).toBe('127.0.0.1');
    expect(await reportedSourceIp(behindProxy)).toBe('203.0.113.66');
  });
});
