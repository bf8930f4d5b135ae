import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig, startGateway } from '../src/index.js';
import { SECRET, TestClient, makeToken } from '../../../test-support/harness.js';

const CLI = fileURLToPath(new URL('../../cli/dist/cli.js', import.meta.url));
const REFUSE_OTEL_SDK = fileURLToPath(new URL('../../../test-support/refuse-otel-sdk.mjs', import.meta.url));

/** Runs `classwire serve` unable to load the OpenTelemetry SDK, until it listens or exits. */
function serveWithoutSdk(env: Record<string, string>): Promise<{ listening: boolean; output: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CLASSWIRE_') && !name.startsWith('OTEL_')));
  const child = spawn(process.execPath, ['--import', REFUSE_OTEL_SDK, CLI, 'serve'], {
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', CLASSWIRE_JWT_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('classwire gateway listening')) {
        child.kill('SIGKILL');
        resolve({ listening: true, output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => resolve({ listening: false, output }));
  });
}

describe('OpenTelemetry tracing', () => {
  it('records connect, join and publish spans when on', async () => {
    const exporter = new InMemorySpanExporter();
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_NODE_ID: 'traced', CLASSWIRE_OTEL_ENABLED: '1', CLASSWIRE_CLASSROOM: '0' });
    const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), spanExporter: exporter });
    try {
      const client = await TestClient.connect(gateway, await makeToken({ sub: 'traced-user', rooms: ['*'] }));
      await client.join('traced-room');
      await client.request({ action: 'publish', room: 'traced-room', event: 'note', data: 1 });
      await client.request({ action: 'ping' });
      const spans = exporter.getFinishedSpans();
      expect(spans.map((span) => span.name).sort()).toEqual(['classwire.connect', 'classwire.join', 'classwire.publish']);
      for (const span of spans) {
        expect(span.attributes['classwire.node']).toBe('traced');
        expect(span.resource.attributes['service.name']).toBe('classwire');
      }
      await client.close();
    } finally {
      await gateway.drain();
    }
  });

  it('never loads the SDK when off', async () => {
    if (!existsSync(CLI)) throw new Error('packages/cli/dist/cli.js is missing: run npm run build first (npm test does)');
    const off = await serveWithoutSdk({});
    expect(off.listening).toBe(true);
    // The same probe stops a node that does trace: it would have caught a load.
    const on = await serveWithoutSdk({ CLASSWIRE_OTEL_ENABLED: '1' });
    expect(on.listening).toBe(false);
    expect(on.output).toContain('refused to load @opentelemetry/');
  }, 60_000);
});
