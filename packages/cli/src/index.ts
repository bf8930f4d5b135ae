export { loadServeConfig, startServer, type ServeConfig } from './serve.js';
