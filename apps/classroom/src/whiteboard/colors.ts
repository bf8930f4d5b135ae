/** Pen colours offered on the board; the first is the default. */
export const PEN_COLORS = [
  { value: '#1f2937', name: 'Black' },
  { value: '#2f6fde', name: 'Blue' },
  { value: '#e03131', name: 'Red' },
  { value: '#2b8a3e', name: 'Green' },
  { value: '#f08c00', name: 'Orange' },
  { value: '#7048e8', name: 'Purple' },
] as const;

/** Pen widths in thousandths of the board's width. */
export const PEN_WIDTHS = [
  { value: 2, name: 'Thin' },
  { value: 4, name: 'Medium' },
  { value: 8, name: 'Thick' },
  { value: 16, name: 'Marker' },
] as const;

const PERSON_COLORS = ['#3b5bdb', '#0c8599', '#2b8a3e', '#e8590c', '#c2255c', '#7048e8', '#5c940d', '#1971c2'];

/** A stable colour per user for avatars and cursors. */
export function colorFor(userId: string): string {
  let hash = 0;
  for (let i = 0; i < userId.length; i += 1) hash = (hash * 31 + userId.charCodeAt(i)) >>> 0;
  return PERSON_COLORS[hash % PERSON_COLORS.length]!;
}
