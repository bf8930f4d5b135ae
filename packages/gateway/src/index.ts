export { startGateway, createLogger, type Gateway, type GatewayOptions } from './gateway.js';
export { loadConfig, ConfigError, type GatewayConfig } from './config.js';
export { authenticateApiRequest, type ApiCredentials } from './api-auth.js';
export { newConnectionId } from './connection.js';
