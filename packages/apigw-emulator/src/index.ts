export { startApiGatewayEmulator } from './emulator.js';
export { loadApiGatewayEmulatorConfig, APIGW_EMULATOR_ENV_NAMES, type ApiGatewayEmulatorConfig } from './config.js';
export { EmulatorMetrics, type BilledUsage } from './metrics.js';
