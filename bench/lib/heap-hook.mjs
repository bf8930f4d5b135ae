// Preloaded into a bench server (`node --expose-gc --import bench/lib/heap-hook.mjs …`) by
// bench/idle-heap.mjs: on SIGUSR2 it collects garbage and writes the process's memory figures to
// `$BENCH_HEAP_DIR/<pid>.json`, so the heap each idle connection keeps is measured without garbage.
// Bench-only: the gateway itself has no way to force a collection from outside.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { writeHeapSnapshot } from 'node:v8';

const dir = process.env.BENCH_HEAP_DIR;
const collect = /** @type {(() => void) | undefined} */ (globalThis.gc);
let snapshots = 0;
if (dir !== undefined && collect !== undefined) {
  process.on('SIGUSR2', () => {
    // Several passes: a weak reference or a finalizer can keep an object for one more collection.
    for (let i = 0; i < 4; i += 1) collect();
    const usage = process.memoryUsage();
    // A snapshot too when asked (BENCH_HEAP_SNAPSHOT=1), numbered per process, to see what a connection keeps.
    if (process.env.BENCH_HEAP_SNAPSHOT === '1') writeHeapSnapshot(join(dir, `${process.pid}-${(snapshots += 1)}.heapsnapshot`));
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(usage));
    // Renamed into place so the reader never sees a half-written file.
    renameSync(`${file}.tmp`, file);
  });
}
