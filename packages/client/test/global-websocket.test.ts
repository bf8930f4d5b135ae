import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { makeToken, startRuntime, wsUrl } from './helpers.js';

const run = promisify(execFile);

describe('the main entry on a runtime with a global WebSocket', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime('gateway');
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('uses globalThis.WebSocket without the /node entry or ws', async () => {
    const script = fileURLToPath(new URL('./fixtures/global-websocket.ts', import.meta.url));
    // Node 22 and newer have the global WebSocket; Node 20 has it behind this flag (ignored where it is the default).
    const flags = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];
    const { stdout } = await run(process.execPath, [...flags, '--conditions=source', '--import', 'tsx', script], {
      env: { ...process.env, CLASSWIRE_URL: wsUrl(gateway), CLASSWIRE_TOKEN: await makeToken({ rooms: ['global-ws'] }) },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout.trim())).toEqual({ seq: 1 });
  });
});
