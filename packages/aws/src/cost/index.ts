export * from './model.js';
export { PRICES, BENCHMARK, HOURS_PER_MONTH } from './prices.js';
export { runCostCommand, COST_USAGE, type CostOutput } from './cli.js';
export { recordsCost, DEFAULT_RECORDS, type RecordsCostOptions } from './records.js';
export { RECORDS_PRICES } from './prices.js';
