/**
 * The published packages as a user gets them: `npm pack`ed, installed from the tarballs into a scratch
 * project outside the workspace (from the npm cache: `--prefer-offline`), type-checked with tsc, and run
 * against a gateway. Nothing is skipped: a failed pack, install or compile fails the test with npm's or
 * tsc's output.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/src/index.js';
import { makeToken, startTestGateway } from '../../../test-support/harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PUBLISHED = ['protocol', 'client', 'vue', 'react'] as const;

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  sideEffects?: boolean;
  files?: string[];
  exports: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

async function manifest(path: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(ROOT, path, 'package.json'), 'utf8')) as Manifest;
}

/** npm's settings a child npm should share (the cache above all); the rest of `npm test`'s npm_* names the workspace. */
const SHARED_NPM_SETTINGS = /^npm_config_(cache|userconfig|globalconfig|registry)$/i;

/** Runs a command; rejects with its output when it fails. */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) || SHARED_NPM_SETTINGS.test(name)));
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: { ...clean, ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('published packages', () => {
  it('share the root version, and depend on one another at it', async () => {
    const { version } = await manifest('.');
    for (const name of PUBLISHED) {
      const pkg = await manifest(`packages/${name}`);
      expect(pkg.version, pkg.name).toBe(version);
      for (const [dependency, range] of Object.entries(pkg.dependencies ?? {})) {
        if (dependency.startsWith('@classwire/')) expect(range, `${pkg.name} → ${dependency}`).toBe(version);
      }
    }
  });

  it('are installable: not private, licensed, side-effect free, typed exports with the workspace source condition', async () => {
    for (const name of PUBLISHED) {
      const pkg = await manifest(`packages/${name}`);
      expect(pkg.private, pkg.name).toBeUndefined();
      expect(pkg.license, pkg.name).toBe('MIT');
      expect(pkg.sideEffects, pkg.name).toBe(false);
      expect(pkg.files, pkg.name).toContain('dist');
      for (const [path, target] of Object.entries(pkg.exports)) {
        if (typeof target === 'string') continue;
        expect(Object.keys(target), `${pkg.name} ${path}`).toEqual(['source', 'types', 'default']);
      }
    }
  });
});

describe('published packages, installed from their tarballs outside the workspace', () => {
  let scratch: string;
  let gateway: Gateway;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'classwire-packed-'));
    gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1' });
    // `prepack` builds each package (tsc, and the client's script-tag bundle) before it is packed.
    const packed = JSON.parse(
      await run('npm', ['pack', '--json', '--pack-destination', scratch, ...PUBLISHED.flatMap((name) => ['-w', `packages/${name}`])], ROOT),
    ) as { name: string; filename: string }[];
    expect(packed.map((entry) => entry.name).sort()).toEqual(PUBLISHED.map((name) => `@classwire/${name}`).sort());
    // The peers and the consumer's type packages at the versions the workspace uses, so the npm cache has them.
    const workspaceVersion = async (name: string) => (await manifest(`node_modules/${name}`)).version;
    const dependencies: Record<string, string> = Object.fromEntries(packed.map((entry) => [entry.name, `file:./${entry.filename}`]));
    for (const name of ['vue', 'react', 'react-dom', 'ws', '@types/react', '@types/react-dom', '@types/node', 'typescript']) {
      dependencies[name] = await workspaceVersion(name);
    }
    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'classwire-consumer', private: true, type: 'module', dependencies }, null, 2));
    await writeFile(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'dist', types: ['node'], skipLibCheck: false },
        include: ['consumer.ts'],
      }),
    );
    await copyFile(fileURLToPath(new URL('consumer/consumer.ts', import.meta.url)), join(scratch, 'consumer.ts'));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'], scratch);
  }, 240_000);

  afterAll(async () => {
    await gateway?.drain();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it('type-check a typed consumer with tsc and run it against a gateway', async () => {
    await run('node', [join(scratch, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], scratch);
    const env = {
      CLASSWIRE_URL: `${gateway.url.replace('http', 'ws')}/ws`,
      TEACHER_TOKEN: await makeToken({ sub: 'rivera', name: 'Rivera', role: 'teacher', rooms: ['packed'] }),
      STUDENT_TOKEN: await makeToken({ sub: 'ada', name: 'Ada', role: 'student', rooms: ['packed'] }),
    };
    const output = await run('node', ['dist/consumer.js'], scratch, env);
    expect(JSON.parse(output)).toEqual({
      text: 'from the packed SDK',
      members: ['ada', 'rivera'],
      studentMayEnd: false,
      refused: 'forbidden',
      html: '<p>waiting, may chat: true</p>',
      normalClose: 1000,
    });
  }, 60_000);

  it('ship their license and readme', async () => {
    for (const name of PUBLISHED) {
      const installed = join(scratch, 'node_modules/@classwire', name);
      expect(await readFile(join(installed, 'LICENSE'), 'utf8'), name).toMatch(/MIT License/);
      expect(await readFile(join(installed, 'README.md'), 'utf8'), name).toMatch(new RegExp(`^# @classwire/${name}`));
    }
  });

  it('ship the script-tag build, which defines the global Classwire', async () => {
    const code = await readFile(join(scratch, 'node_modules/@classwire/client/dist/classwire.iife.js'), 'utf8');
    const context: { Classwire?: Record<string, unknown> } = {};
    runInNewContext(code, context);
    expect(typeof context.Classwire?.connect).toBe('function');
    expect(typeof context.Classwire?.ClasswireClient).toBe('function');
    expect((context.Classwire?.CLOSE_CODES as Record<string, number>).normal).toBe(1000);
  });
});
