/** A small seeded PRNG (mulberry32): the same seed gives the same schedule and the same client jitter. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function randomBetween(random: () => number, min: number, max: number): number {
  return Math.floor(min + random() * (max - min));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Draws every item once in a random order before any repeats, so each kind happens early. */
export function bag<T>(random: () => number, items: readonly T[]): () => T {
  let remaining: T[] = [];
  return () => {
    if (remaining.length === 0) remaining = [...items];
    const index = Math.floor(random() * remaining.length);
    return remaining.splice(index, 1)[0]!;
  };
}
