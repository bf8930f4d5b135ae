export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { createLogger } from './logger.js';
export { DevTokenIssuer } from './dev-tokens.js';
export { loadConfig, ConfigError, GATEWAY_ENV_NAMES, type GatewayConfig } from './config.js';
