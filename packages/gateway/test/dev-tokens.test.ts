import { Writable } from 'node:stream';
import { jwtVerify } from 'jose';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { startGateway } from '../src/index.js';
import { SECRET } from '../../../test-support/harness.js';

/** A gateway with development tokens from `env`, and the lines it logged. */
async function startLogged(env: Record<string, string>) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  const gateway = await startGateway(loadConfig({ PORT: '0', CLASSWIRE_DEV_TOKENS: '1', ...env }), { logger: pino({ level: 'warn' }, sink) });
  const warning = lines.map((line) => JSON.parse(line) as { msg: string; host: string; signing: string }).find((entry) => entry.msg.startsWith('DEVELOPMENT TOKENS'));
  return { gateway, warning };
}

async function mint(url: string): Promise<string> {
  const response = await fetch(`${url}/dev/token`, { method: 'POST', body: JSON.stringify({ name: 'T', role: 'teacher', rooms: ['*'] }) });
  return ((await response.json()) as { token: string }).token;
}

describe('development tokens', () => {
  it('bind loopback unless HOST is set explicitly, with or without --dev', () => {
    expect(loadConfig({ CLASSWIRE_DEV_TOKENS: '1' }).host).toBe('127.0.0.1');
    expect(loadConfig({}, { dev: true }).host).toBe('127.0.0.1');
    expect(loadConfig({ CLASSWIRE_DEV_TOKENS: '1', HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ CLASSWIRE_JWT_SECRET: SECRET }).host).toBe('0.0.0.0');
  });

  it('refuse to sign with the configured secret unless CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET allows it', () => {
    for (const load of [() => loadConfig({ CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_JWT_SECRET: SECRET }), () => loadConfig({ CLASSWIRE_JWT_SECRET: SECRET }, { dev: true })]) {
      expect(load).toThrow(ConfigError);
      expect(load).toThrow(/CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET=1/);
    }
    expect(loadConfig({ CLASSWIRE_DEV_TOKENS: '1', CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: '1' }).devTokens).toBe(true);
  });

  it('sign with a random secret on loopback by default, and the warning says so', async () => {
    const { gateway, warning } = await startLogged({});
    expect(new URL(gateway.url).hostname).toBe('127.0.0.1');
    expect(warning).toMatchObject({ host: '127.0.0.1', signing: 'random' });
    expect(warning!.msg).toContain('only from this machine');
    const token = await mint(gateway.url);
    await expect(jwtVerify(token, new TextEncoder().encode(SECRET))).rejects.toThrow();
    await gateway.drain();
  });

  it('say in the warning when they are reachable beyond loopback and signed with the configured secret', async () => {
    const { gateway, warning } = await startLogged({ HOST: '0.0.0.0', CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: '1' });
    expect(warning).toMatchObject({ host: '0.0.0.0', signing: 'CLASSWIRE_JWT_SECRET' });
    expect(warning!.msg).toContain('because HOST is set');
    expect(warning!.msg).toContain('CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET');
    const { payload } = await jwtVerify(await mint(gateway.url), new TextEncoder().encode(SECRET));
    expect(payload).toMatchObject({ role: 'teacher' });
    await gateway.drain();
  });
});
