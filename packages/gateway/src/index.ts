export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { createLogger } from './logger.js';
export { loadConfig, ConfigError, type GatewayConfig } from './config.js';
