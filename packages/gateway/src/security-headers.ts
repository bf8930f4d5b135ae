import type { IncomingMessage, ServerResponse } from 'node:http';

/** A Host header that is a host name or IP literal with an optional port: safe inside a CSP source list. */
const SAFE_HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The policy for everything served: only this origin's scripts, styles and images, no plugins, no
 * framing (the teacher's controls cannot be clickjacked). WebSockets to the page's own host are listed
 * explicitly, since not every browser counts ws:/wss: as 'self'; a Host header that is not a plain
 * host[:port] is not echoed into the policy, and the page can then only use 'self'.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const sockets = host !== undefined && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    // Vite inlines small images and fonts as data: URIs.
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Sets the security headers on a response before any route writes it. */
export function applySecurityHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-security-policy', contentSecurityPolicy(req.headers.host));
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  // For browsers that predate frame-ancestors.
  res.setHeader('x-frame-options', 'DENY');
}
