import { pino, type DestinationStream, type Logger } from 'pino';

/** JSON lines on stdout, or on `destination` (the CLI's human-readable stream in development). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'classwire' },
    // Tokens travel in query strings and headers; neither is ever logged.
    redact: { paths: ['token', '*.token', 'req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
