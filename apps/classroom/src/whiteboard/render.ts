/** Draws board items on a 2D canvas whose size is the board's size in CSS pixels times the pixel ratio. */
import type { BoardItem } from '../state/types.js';

export function clearBoard(ctx: CanvasRenderingContext2D, width: number, height: number): void {
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  // A faint dot grid, as on a paper whiteboard; it scales with the board.
  const step = width / 40;
  ctx.fillStyle = '#e4e8f0';
  const dot = Math.max(1, width / 1200);
  for (let x = step; x < width; x += step) {
    for (let y = step; y < height; y += step) ctx.fillRect(x - dot / 2, y - dot / 2, dot, dot);
  }
}

export function drawItem(ctx: CanvasRenderingContext2D, item: BoardItem, width: number, height: number): void {
  if (item.type === 'text') {
    // Size is in thousandths of the board's width, like line widths, so text scales with the board.
    ctx.fillStyle = item.color;
    ctx.font = `${Math.max(6, (item.size / 1000) * width)}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillText(item.text, item.x * width, item.y * height);
    return;
  }
  ctx.strokeStyle = item.color;
  ctx.lineWidth = Math.max(1, (item.width / 1000) * width);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  if (item.type === 'stroke') {
    const p = item.points;
    if (p.length < 2) return;
    ctx.moveTo(p[0]! * width, p[1]! * height);
    if (p.length === 2) ctx.lineTo(p[0]! * width, p[1]! * height);
    for (let i = 2; i + 1 < p.length; i += 2) ctx.lineTo(p[i]! * width, p[i + 1]! * height);
    ctx.stroke();
    return;
  }
  const x1 = item.x1 * width;
  const y1 = item.y1 * height;
  const x2 = item.x2 * width;
  const y2 = item.y2 * height;
  if (item.kind === 'line') {
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
  } else if (item.kind === 'rect') {
    ctx.rect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
  } else {
    ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, Math.PI * 2);
  }
  ctx.stroke();
}
