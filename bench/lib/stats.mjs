// A latency histogram with 1% wide logarithmic buckets from 1 µs to about 2 minutes: constant memory
// whatever the number of samples, percentiles within 1%, exact maximum.

const GROWTH = Math.log(1.01);
const BUCKETS = 1900;

export class Histogram {
  constructor() {
    this.counts = new Uint32Array(BUCKETS);
    this.count = 0;
    this.max = 0;
  }

  /** @param {number} ms */
  record(ms) {
    const us = ms * 1000;
    const index = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us) / GROWTH));
    this.counts[index] += 1;
    this.count += 1;
    if (ms > this.max) this.max = ms;
  }

  /**
   * The value (ms) at or below which `fraction` of the samples lie; NaN without samples.
   * @param {number} fraction
   */
  percentile(fraction) {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(fraction * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, Math.exp(i * GROWTH) / 1000);
    }
    return this.max;
  }

  summary() {
    return { samples: this.count, p50: this.percentile(0.5), p99: this.percentile(0.99), max: this.count === 0 ? Number.NaN : this.max };
  }
}
