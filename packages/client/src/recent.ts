/**
 * Remembers `key` among the latest `limit` keys of `seen` (oldest forgotten first); true when it was
 * remembered already. Deduplicates messages resent with the same id.
 */
export function seenBefore(seen: Set<string>, key: string, limit: number): boolean {
  if (seen.has(key)) return true;
  seen.add(key);
  if (seen.size > limit) seen.delete(seen.values().next().value!);
  return false;
}
