#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, describeUnknownVariable } from '@classwire/core';
import { createLogger, DevTokenIssuer } from '@classwire/gateway';
import { PinoPretty } from 'pino-pretty';
import { describeServeConfig, loadServeConfig, maskSecrets, startServer, unknownServeVariables, type ServeConfig } from './serve.js';

const USAGE = `Usage: classwire <command> [options]

Commands:
  serve          Start a gateway node, or with CLASSWIRE_MODE=apigw-emulator the Lambda handlers behind
                 an emulated API Gateway (configuration from environment variables; see README.md).
  check-config   Validate the environment and print the effective configuration, secrets masked.
  token          Sign a token with CLASSWIRE_JWT_SECRET, for operators' tests.
  cost           Price a month of classroom traffic on AWS, self-hosted and Ably (docs/cost.md).

Options:
  -h, --help     Show help (also after a command: classwire serve --help).
  -v, --version  Print the version.

Exit codes: 0 success, 2 bad arguments or configuration, 1 a failure while running.
`;

const CONFIG_OPTIONS_HELP = `  --dev                Development mode: POST /dev/token signing with a random secret (with
                       CLASSWIRE_JWT_SECRET only if CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET=1), loopback
                       unless HOST is set, human-readable logs.
  --allow-unknown-env  Warn about unknown CLASSWIRE_* variables instead of refusing to start.
  -h, --help           Show this help.
`;

const COMMAND_USAGE = {
  serve: `Usage: classwire serve [--dev] [--allow-unknown-env]

Start a node with the configuration in the environment (README.md lists every variable). Logs are JSON
lines, or human-readable with --dev (LOG_FORMAT=json|pretty overrides). SIGTERM or SIGINT drains it.

${CONFIG_OPTIONS_HELP}`,
  'check-config': `Usage: classwire check-config [--dev] [--allow-unknown-env]

Validate the environment as \`classwire serve\` would and print the effective configuration as JSON,
secrets masked. Exit code 0 when it is valid, 2 with one line per problem otherwise.

${CONFIG_OPTIONS_HELP}`,
  token: `Usage: classwire token --sub <user> [--role <role>] [--rooms <a,b>] [--ttl <seconds>] [--name <name>]

Sign an HS256 token with CLASSWIRE_JWT_SECRET (and CLASSWIRE_JWT_ISSUER/_AUDIENCE when set) and print
it, for testing a deployment. Never hand these to users: they bypass your identity provider.

  --sub <user>     The user id (sub claim). Required.
  --role <role>    teacher, assistant, student (default) or observer.
  --rooms <list>   Comma-separated rooms or prefixes ending in * (default: *, every room).
  --ttl <seconds>  Lifetime, 10 to 86400 (default 3600).
  --name <name>    Display name (default: the user id).
  --allow-unknown-env, -h/--help as for serve.
`,
} as const;
type Command = keyof typeof COMMAND_USAGE;

const CONFIG_OPTIONS = {
  dev: { type: 'boolean' },
  'allow-unknown-env': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

const TOKEN_OPTIONS = {
  sub: { type: 'string' },
  role: { type: 'string' },
  rooms: { type: 'string' },
  ttl: { type: 'string' },
  name: { type: 'string' },
  'allow-unknown-env': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

class UsageError extends Error {}

/** The token issuer's request fields, named as the flags that set them in error messages. */
const TOKEN_FLAGS: Record<string, string> = { userId: '--sub:', ttlSeconds: '--ttl:', rooms: '--rooms:', role: '--role:', name: '--name:' };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command === 'cost') {
    const { runCostCommand } = await import('@classwire/aws/cost');
    return runCostCommand(rest, process.stdout, process.stderr);
  }
  if (!(command in COMMAND_USAGE)) {
    process.stderr.write(`classwire: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await runCommand(command as Command, rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`classwire ${command}: ${error.message}\n\n${COMMAND_USAGE[command as Command]}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`classwire: invalid configuration: ${problem}\n`);
      return 2;
    }
    throw error;
  }
}

async function runCommand(command: Command, argv: string[]): Promise<number> {
  if (command === 'token') {
    const { values } = parse(argv, TOKEN_OPTIONS);
    if (values.help === true) return printHelp(command);
    const config = loadConfigWarning(values['allow-unknown-env'] === true, false);
    return signToken(config, values);
  }
  const { values } = parse(argv, CONFIG_OPTIONS);
  if (values.help === true) return printHelp(command);
  const config = loadConfigWarning(values['allow-unknown-env'] === true, values.dev === true);
  if (command === 'check-config') {
    process.stdout.write(`${JSON.stringify({ ...describeServeConfig(config), ...(maskSecrets(config) as object) }, null, 2)}\n`);
    return 0;
  }
  return serve(config);
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function printHelp(command: Command): number {
  process.stdout.write(COMMAND_USAGE[command]);
  return 0;
}

/** The configuration, with a warning on stderr for each unknown variable when those are allowed. */
function loadConfigWarning(allowUnknownEnv: boolean, dev: boolean): ServeConfig {
  const config = loadServeConfig(process.env, { dev, allowUnknownEnv });
  if (allowUnknownEnv) {
    for (const unknown of unknownServeVariables(process.env)) process.stderr.write(`classwire: warning: ${describeUnknownVariable(unknown)}\n`);
  }
  return config;
}

async function signToken(config: ServeConfig, values: { sub?: string; role?: string; rooms?: string; ttl?: string; name?: string }): Promise<number> {
  const { secret, jwksUrl, issuer, audience } = config.gateway.auth;
  if (secret === undefined) {
    throw new ConfigError(`CLASSWIRE_JWT_SECRET: classwire token signs with the shared secret${jwksUrl === undefined ? '' : '; with CLASSWIRE_JWKS_URL your identity provider issues tokens'}`);
  }
  if (values.sub === undefined) throw new UsageError('--sub is required');
  const ttl = values.ttl === undefined ? 3600 : Number(values.ttl);
  const issued = await new DevTokenIssuer(secret, { issuer, audience }).issue({
    userId: values.sub,
    name: values.name ?? values.sub,
    role: values.role,
    rooms: values.rooms?.split(',').map((room) => room.trim()),
    ttlSeconds: ttl,
  });
  if ('error' in issued) throw new UsageError(issued.error.replace(/^(\w+)[.\d]*:/, (match, field: string) => TOKEN_FLAGS[field] ?? match));
  process.stdout.write(`${issued.token}\n`);
  return 0;
}

async function serve(config: ServeConfig): Promise<number> {
  const { gateway: settings } = config;
  const logger = createLogger(settings.logLevel, settings.logFormat === 'pretty' ? PinoPretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }) : undefined);
  logger.info({ ...describeServeConfig(config), node: settings.nodeId }, 'classwire starting');
  const gateway = await startServer(config, { logger });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'draining');
    gateway.drain().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return -1;
}

/** The package's version; package.json sits one level above both src/ and dist/. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`classwire: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
