/**
 * The gateway's HTTP and WebSocket building blocks, for another runtime served the same way (the API
 * Gateway emulator, `@classwire/apigw-emulator`): connections with send buffers, the `@connections`
 * API, API authentication, development tokens, metrics, static files and HTTP helpers.
 */
export { Connection, newConnectionId } from './connection.js';
export { authenticateApiRequest, type ApiCredentials } from './api-auth.js';
export { handleConnectionRequest, readManagementBody, sendAwsError, type ConnectionTarget } from './management.js';
export { createDevTokens, devTokenWarning, serveDevToken, type DevTokenIssuer } from './dev-tokens.js';
export { GatewayMetrics } from './metrics.js';
export { serveStatic, BUNDLED_WEB_ROOT } from './static-files.js';
export { isAbandoned, listen, pathOf, sendJson } from './http-util.js';
export { TrustedProxies } from './trusted-proxies.js';
export { applySecurityHeaders } from './security-headers.js';
