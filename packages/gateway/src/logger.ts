import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'classwire' },
    // Tokens travel in query strings and headers; neither is ever logged.
    redact: { paths: ['token', '*.token', 'req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}
