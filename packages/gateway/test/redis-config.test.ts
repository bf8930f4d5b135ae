import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const REDIS = { CLASSWIRE_REDIS_URL: 'redis://127.0.0.1:6379', CLASSWIRE_DEV_TOKENS: '1' };

describe('Redis settings', () => {
  it('CLASSWIRE_REDIS_APPEND_BATCH: 64 appends per script call by default, 1 to 1000 accepted, anything else refused', () => {
    expect(loadConfig(REDIS).redis?.appendBatch).toBe(64);
    expect(loadConfig({ ...REDIS, CLASSWIRE_REDIS_APPEND_BATCH: '1' }).redis?.appendBatch).toBe(1);
    expect(loadConfig({ ...REDIS, CLASSWIRE_REDIS_APPEND_BATCH: '1000' }).redis?.appendBatch).toBe(1000);
    for (const value of ['0', '1001', '-5', '2.5', 'many']) {
      expect(() => loadConfig({ ...REDIS, CLASSWIRE_REDIS_APPEND_BATCH: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ ...REDIS, CLASSWIRE_REDIS_APPEND_BATCH: value }), value).toThrow(/CLASSWIRE_REDIS_APPEND_BATCH/);
    }
  });
});
