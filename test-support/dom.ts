/**
 * A happy-dom document in a Node test process, installed on import (import it before `vue` or
 * `react-dom`, which look for `document` when they load). Only the DOM's names are installed: Node's own
 * `URL`, `fetch`, timers and `WebSocket` stay, so the real gateway started in the same process keeps working
 * (vitest's `happy-dom` environment replaces them, and the gateway's `new URL(…, import.meta.url)` fails).
 */
import { Window } from 'happy-dom';

const window = new Window({ url: 'http://localhost/' });

const DOM_GLOBALS = [
  'document',
  'navigator',
  'Node',
  'Element',
  'HTMLElement',
  'SVGElement',
  'Text',
  'Comment',
  'DocumentFragment',
  'MutationObserver',
  'Event',
  'CustomEvent',
  'KeyboardEvent',
  'MouseEvent',
  'FocusEvent',
  'InputEvent',
  'getComputedStyle',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'sessionStorage',
  'localStorage',
] as const;

const target = globalThis as unknown as Record<string, unknown>;
const source = window as unknown as Record<string, unknown>;
target.window = globalThis;
for (const name of DOM_GLOBALS) {
  const value = source[name];
  Object.defineProperty(target, name, { value: typeof value === 'function' && /^[a-z]/.test(name) ? value.bind(window) : value, configurable: true, writable: true });
}
