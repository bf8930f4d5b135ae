export { startApiGatewayEmulator } from './emulator.js';
export { loadApiGatewayEmulatorConfig, type ApiGatewayEmulatorConfig } from './config.js';
