import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JwtAuthorizer } from '@classwire/core';
import { beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const SECRET = 'commands-test-secret-of-at-least-32-chars';
const STACK_FRAME = /^\s+at /m;

/** This process's environment without any CLASSWIRE_ or npm variable, plus `env`. */
function cleanEnv(env: Record<string, string>): Record<string, string> {
  const inherited = Object.entries(process.env).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('CLASSWIRE_') && !entry[0].startsWith('npm_') && !entry[0].startsWith('LOG_'),
  );
  return { ...Object.fromEntries(inherited), ...env };
}

/** Runs the built CLI to completion. */
function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `classwire serve` and resolves with its output up to the first line `matches` accepts; then stops it. */
function serveUntil(args: string[], env: Record<string, string>, matches: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: cleanEnv({ PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.split('\n').some(matches)) {
        child.kill('SIGKILL');
        resolve(output);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('packages/cli/dist/cli.js is missing: run npm run build first (npm test does)');
});

describe('classwire help and version', () => {
  it('prints the usage on stdout and exits 0, for the command and for each subcommand', () => {
    for (const args of [['--help'], ['-h'], []]) {
      const result = run(args);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^Usage: classwire <command>/);
      expect(result.stdout).toContain('check-config');
      expect(result.stderr).toBe('');
    }
    for (const command of ['serve', 'check-config', 'token', 'cost']) {
      const result = run([command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain(`classwire ${command}`);
    }
  });

  it('prints the version', () => {
    for (const flag of ['--version', '-v']) expect(run([flag])).toMatchObject({ status: 0, stdout: `${VERSION}\n` });
  });

  it('answers an unknown command or option with the usage on stderr and exit code 2', () => {
    const command = run(['serv']);
    expect(command.status).toBe(2);
    expect(command.stderr).toContain('unknown command "serv"');
    const option = run(['serve', '--devv'], { CLASSWIRE_JWT_SECRET: SECRET });
    expect(option.status).toBe(2);
    expect(option.stderr).toContain('--devv');
    expect(option.stdout).toBe('');
  });
});

describe('configuration errors', () => {
  it('reports every bad value on its own line with exit code 2 and no stack trace', () => {
    const result = run(['serve'], { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_JWT_ALGORITHMS: 'none', CLASSWIRE_MAX_FRAME_BYTES: 'lots', PORT: '70000' });
    expect(result.status).toBe(2);
    expect(result.stderr).not.toMatch(STACK_FRAME);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.find((line) => line.includes('CLASSWIRE_JWT_ALGORITHMS'))).toContain('"none" is not one of HS256');
    expect(lines.some((line) => line.includes('CLASSWIRE_MAX_FRAME_BYTES'))).toBe(true);
    expect(lines.some((line) => line.includes('PORT'))).toBe(true);
  });

  it('refuses algorithms the configured key cannot verify', () => {
    const result = run(['check-config'], { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_JWT_ALGORITHMS: 'HS256,RS256' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('classwire: invalid configuration: CLASSWIRE_JWT_ALGORITHMS: a secret only verifies HS256, HS384 or HS512, not RS256\n');
  });

  it('refuses an unknown CLASSWIRE_ variable, naming the closest known one', () => {
    const result = run(['serve'], { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_REDSI_URL: 'redis://127.0.0.1:1' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('classwire: invalid configuration: CLASSWIRE_REDSI_URL: unknown variable (did you mean CLASSWIRE_REDIS_URL?)\n');
  });

  it('knows the Lambda functions\' records database variables in emulator mode, and names a misspelt one', () => {
    const emulated = { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_MODE: 'apigw-emulator', CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:1' };
    const known = run(['check-config'], { ...emulated, CLASSWIRE_DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db', CLASSWIRE_DATABASE_HOST: 'proxy.example' });
    expect(known.stderr).toBe('');
    expect(known.status).toBe(0);
    const misspelt = run(['check-config'], { ...emulated, CLASSWIRE_DATABASE_SECRTE_ARN: 'arn:x' });
    expect(misspelt.status).toBe(2);
    expect(misspelt.stderr).toBe('classwire: invalid configuration: CLASSWIRE_DATABASE_SECRTE_ARN: unknown variable (did you mean CLASSWIRE_DATABASE_SECRET_ARN?)\n');
  });

  it('only warns about unknown variables with --allow-unknown-env', () => {
    const result = run(['check-config', '--allow-unknown-env'], { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_REDSI_URL: 'redis://127.0.0.1:1', CLASSWIRE_TOTALLY_NEW: '1' });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('warning: CLASSWIRE_REDSI_URL: unknown variable (did you mean CLASSWIRE_REDIS_URL?)');
    expect(result.stderr).toContain('warning: CLASSWIRE_TOTALLY_NEW: unknown variable\n');
    expect(JSON.parse(result.stdout)).toMatchObject({ engine: 'memory' });
  });

  it("knows the Lambda handlers' variables in emulation mode only", () => {
    const env = { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_FANOUT_CONCURRENCY: '10', CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:1' };
    expect(run(['check-config'], env).status).toBe(2);
    expect(run(['check-config'], { ...env, CLASSWIRE_MODE: 'apigw-emulator' }).status).toBe(0);
  });
});

describe('classwire check-config', () => {
  it('prints the effective configuration with every secret masked', () => {
    const apiKey = 'check-config-api-key-0123';
    const result = run(['check-config'], {
      CLASSWIRE_JWT_SECRET: SECRET,
      CLASSWIRE_API_KEY: apiKey,
      CLASSWIRE_REDIS_URL: 'redis://default:redis-password@redis.internal:6379',
      CLASSWIRE_CLASSROOM: '0',
      CLASSWIRE_MODE: 'apigw-emulator',
    });
    expect(result.status).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({ mode: 'apigw-emulator', engine: 'redis', classroom: false, gateway: { port: 8080, api: { key: '********' } } });
    for (const secret of [SECRET, apiKey, 'redis-password']) expect(result.stdout).not.toContain(secret);
    expect(result.stdout).toContain('redis://default:********@redis.internal:6379');
  });
});

describe('classwire token', () => {
  it('signs a token the configured verifier accepts, with the requested claims', async () => {
    const result = run(['token', '--sub', 'ops-1', '--role', 'teacher', '--rooms', 'physics-*,lab', '--ttl', '600', '--name', 'Ops'], { CLASSWIRE_JWT_SECRET: SECRET });
    expect(result.status).toBe(0);
    const claims = await new JwtAuthorizer({ secret: SECRET }).authorize(result.stdout.trim());
    expect(claims).toMatchObject({ userId: 'ops-1', name: 'Ops', role: 'teacher', rooms: ['physics-*', 'lab'] });
    expect(claims.expiresAt - Date.now()).toBeLessThanOrEqual(600_000);
    expect(claims.expiresAt - Date.now()).toBeGreaterThan(500_000);
  });

  it('refuses bad flags and a configuration without a secret with exit code 2', () => {
    expect(run(['token', '--role', 'teacher'], { CLASSWIRE_JWT_SECRET: SECRET })).toMatchObject({ status: 2, stderr: expect.stringContaining('--sub is required') });
    expect(run(['token', '--sub', 'a', '--ttl', '5'], { CLASSWIRE_JWT_SECRET: SECRET })).toMatchObject({ status: 2, stderr: expect.stringContaining('--ttl:') });
    expect(run(['token', '--sub', 'a', '--role', 'admin'], { CLASSWIRE_JWT_SECRET: SECRET })).toMatchObject({ status: 2, stderr: expect.stringContaining('--role:') });
    const jwks = run(['token', '--sub', 'a'], { CLASSWIRE_JWKS_URL: 'https://idp.example/jwks' });
    expect(jwks.status).toBe(2);
    expect(jwks.stderr).toContain('CLASSWIRE_JWT_SECRET');
    expect(jwks.stdout).toBe('');
  });
});

describe('classwire serve logs', () => {
  it('names the mode, engine and classroom setting in JSON when it starts', async () => {
    const output = await serveUntil([], { CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_CLASSROOM: 'no' }, (line) => line.includes('classwire starting'));
    const starting = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.msg === 'classwire starting');
    expect(starting).toMatchObject({ mode: 'gateway', engine: 'memory', classroom: false });
  });

  it('logs human-readable lines with --dev', async () => {
    const output = await serveUntil(['--dev'], {}, (line) => line.includes('classwire gateway listening'));
    const line = output.split('\n').find((l) => l.includes('classwire gateway listening'))!;
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: classwire gateway listening/);
    expect(output).toMatch(/^\s+engine: "memory"$/m);
  });
});
