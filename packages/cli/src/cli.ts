#!/usr/bin/env node
import { ConfigError } from '@classwire/core';
import { createLogger } from '@classwire/gateway';
import { loadServeConfig, startServer } from './serve.js';

const USAGE = `Usage: classwire serve [--dev]
       classwire cost [options]

  serve        Start a gateway node, or with CLASSWIRE_MODE=apigw-emulator the Lambda handlers behind
               an emulated API Gateway (configuration from environment variables; see README.md).
  cost         Price a month of classroom traffic on AWS, self-hosted and Ably (--help; docs/cost.md).
  --dev        Development mode: enables POST /dev/token, signing with a random secret (with
               CLASSWIRE_JWT_SECRET only if CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET=1), and binds to
               127.0.0.1 unless HOST is set.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  if (command === 'cost') {
    const { runCostCommand } = await import('@classwire/aws/cost');
    return runCostCommand(flags, process.stdout, process.stderr);
  }
  if (command !== 'serve' || flags.some((f) => f !== '--dev')) {
    process.stderr.write(USAGE);
    return command === undefined || command === '--help' || command === '-h' ? 0 : 2;
  }
  let config;
  try {
    config = loadServeConfig(process.env, { dev: flags.includes('--dev') });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`classwire: invalid configuration: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.gateway.logLevel);
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

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`classwire: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
