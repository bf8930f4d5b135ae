export * from './model.js';
export { PRICES, BENCHMARK, HOURS_PER_MONTH } from './prices.js';
export { runCostCommand, COST_USAGE, type CostOutput } from './cli.js';
