import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@classwire/core';
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../src/serve.js';

const SECRET = 'serve-test-secret-that-is-at-least-32-characters';
const APP_BUILD = fileURLToPath(new URL('../../../apps/classroom/dist/', import.meta.url));

describe('classwire serve configuration', () => {
  it('runs the gateway unless CLASSWIRE_MODE says otherwise', () => {
    expect(loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET }).mode).toBe('gateway');
  });

  it('runs the Lambda handlers behind the emulator with CLASSWIRE_MODE=apigw-emulator, the stage from the WebSocket path', () => {
    const config = loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_MODE: 'apigw-emulator', CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:6379', CLASSWIRE_WS_PATH: '/prod' });
    expect(config).toMatchObject({ mode: 'apigw-emulator', apigw: { stage: 'prod', functionEnvironment: { CLASSWIRE_JWT_SECRET: SECRET } } });
  });

  it('refuses an unknown mode and an emulator without Redis', () => {
    expect(() => loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_MODE: 'lambda' })).toThrow(ConfigError);
    expect(() => loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_MODE: 'apigw-emulator' })).toThrow(/CLASSWIRE_REDIS_URL/);
  });

  it("serves CLASSWIRE_STATIC_DIR when set, else the classroom app's build when there is one", () => {
    expect(loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_STATIC_DIR: '/srv/app' }).gateway.staticDir).toBe('/srv/app');
    const expected = existsSync(`${APP_BUILD}index.html`) ? APP_BUILD : undefined;
    expect(loadServeConfig({ CLASSWIRE_JWT_SECRET: SECRET }).gateway.staticDir).toBe(expected);
  });
});
