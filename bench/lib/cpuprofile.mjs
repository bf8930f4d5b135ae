// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per file.
import { readFileSync } from 'node:fs';

/**
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} Profile
 */

/**
 * @param {string} file
 * @param {string} root  path prefix to strip from file URLs
 * @param {number} [top]
 */
export function summarizeProfile(file, root, top = 20) {
  /** @type {Profile} */
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const selfUs = new Map();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = /** @type {number} */ (profile.samples[i]);
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idleUs = 0;
  for (const [id, us] of selfUs) if (byId.get(id)?.callFrame.functionName === '(idle)') idleUs += us;
  // Percentages are of the busy time: everything but (idle).
  const busyUs = totalUs - idleUs;
  const short = (/** @type {string} */ url) => url.replace(/^file:\/\//, '').replace(root, '').replace(/^.*node_modules\//, 'node_modules/');
  /** @type {Map<string, number>} */
  const perFunction = new Map();
  /** @type {Map<string, number>} */
  const perFile = new Map();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : ` ${short(url)}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}${where}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + us);
    const fileKey = url === '' ? (functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`) : short(url);
    perFile.set(fileKey, (perFile.get(fileKey) ?? 0) + us);
  }
  const rank = (/** @type {Map<string, number>} */ map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / Math.max(1, busyUs)) / 10 }));
  return { totalMs: Math.round(totalUs / 1000), busyMs: Math.round(busyUs / 1000), functions: rank(perFunction), files: rank(perFile) };
}
