import { deflateSync } from 'node:zlib';

/**
 * The benchmark's chart, drawn without a graphics library: a PNG encoder (zlib does the compression), a
 * canvas of RGB pixels with lines and a 5x7 pixel font, and two panels against concurrency: throughput and
 * latency.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A PNG of 8-bit RGB pixels, rows top to bottom (3 bytes a pixel). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} bytes of pixels, got ${rgb.length}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = 2; // colour type: RGB
  // compression, filter and interlace methods: 0
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width * 3 + 1)] = 0; // filter: none
    rows.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export type Color = readonly [number, number, number];

/** Each glyph is 7 rows of 5 pixels, the high bit on the left. Lower case is drawn as upper case. */
const FONT: Record<string, readonly number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '_': [0, 0, 0, 0, 0, 0, 0x1f],
  '*': [0, 0x04, 0x15, 0x0e, 0x15, 0x04, 0],
  '?': [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
};

export class Canvas {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Color = [255, 255, 255],
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }

  set(x: number, y: number, color: Color): void {
    const px = Math.round(x);
    const py = Math.round(y);
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return;
    this.pixels.set(color, (py * this.width + px) * 3);
  }

  rect(x: number, y: number, w: number, h: number, color: Color): void {
    for (let dy = 0; dy < h; dy++) for (let dx = 0; dx < w; dx++) this.set(x + dx, y + dy, color);
  }

  /** A line `thickness` pixels wide; with `dash`, drawn `dash` pixels on, `dash` off. */
  line(x0: number, y0: number, x1: number, y1: number, color: Color, thickness = 1, dash = 0): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const half = Math.floor(thickness / 2);
    for (let i = 0; i <= steps; i++) {
      if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      this.rect(Math.round(x) - half, Math.round(y) - half, thickness, thickness, color);
    }
  }

  /** Text in the 5x7 font, each font pixel `scale` pixels square; answers the width drawn. */
  text(x: number, y: number, text: string, color: Color, scale = 2): number {
    let cursor = x;
    for (const character of text.toUpperCase()) {
      const glyph = FONT[character] ?? FONT['?']!;
      glyph.forEach((row, dy) => {
        for (let dx = 0; dx < 5; dx++) if (row & (0x10 >> dx)) this.rect(cursor + dx * scale, y + dy * scale, scale, scale, color);
      });
      cursor += 6 * scale;
    }
    return cursor - x;
  }

  textWidth(text: string, scale = 2): number {
    return [...text].length * 6 * scale;
  }

  /** Text turned a quarter anticlockwise, reading upwards from (x, y). */
  verticalText(x: number, y: number, text: string, color: Color, scale = 2): void {
    let cursor = y;
    for (const character of text.toUpperCase()) {
      const glyph = FONT[character] ?? FONT['?']!;
      glyph.forEach((row, dy) => {
        for (let dx = 0; dx < 5; dx++) if (row & (0x10 >> dx)) this.rect(x + dy * scale, cursor - (dx + 1) * scale, scale, scale, color);
      });
      cursor -= 6 * scale;
    }
  }

  png(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}

/** Round tick marks from 0 to at least max: 1, 2 or 5 times a power of ten apart. */
export function ticks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough)!;
  const marks: number[] = [];
  for (let value = 0; value < max + step - 1e-9; value += step) marks.push(Number(value.toPrecision(12)));
  return marks;
}

export interface Series {
  label: string;
  color: Color;
  points: Array<{ x: number; y: number }>;
  dashed?: boolean;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

const INK: Color = [40, 40, 40];
const GRID: Color = [225, 225, 225];

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return `${Math.round(value / 100) / 10}K`;
  return String(Number(value.toPrecision(3)));
}

function drawPanel(canvas: Canvas, panel: Panel, left: number, top: number, width: number, height: number, xLabel: string): void {
  const plot = { left: left + 70, top: top + 40, right: left + width - 20, bottom: top + height - 60 };
  const points = panel.series.flatMap((series) => series.points);
  const xs = [...new Set(points.map((point) => point.x))].sort((a, b) => a - b);
  // A margin right of the last point, so that it does not sit on the panel's edge.
  const xMax = Math.max(1, ...xs) * 1.08;
  const yTicks = ticks(Math.max(0, ...points.map((point) => point.y).filter(Number.isFinite)));
  const yMax = yTicks[yTicks.length - 1]!;
  const px = (x: number) => plot.left + (x / xMax) * (plot.right - plot.left);
  const py = (y: number) => plot.bottom - (y / yMax) * (plot.bottom - plot.top);

  canvas.text(left + (width - canvas.textWidth(panel.title)) / 2, top + 8, panel.title, INK);
  for (const tick of yTicks) {
    canvas.line(plot.left, py(tick), plot.right, py(tick), GRID);
    const label = formatTick(tick);
    canvas.text(plot.left - 8 - canvas.textWidth(label), py(tick) - 7, label, INK);
  }
  for (const x of xs) {
    canvas.line(px(x), plot.top, px(x), plot.bottom, GRID);
    const label = formatTick(x);
    canvas.text(px(x) - canvas.textWidth(label) / 2, plot.bottom + 8, label, INK);
  }
  canvas.line(plot.left, plot.bottom, plot.right, plot.bottom, INK, 2);
  canvas.line(plot.left, plot.top, plot.left, plot.bottom, INK, 2);
  canvas.text(plot.left + (plot.right - plot.left - canvas.textWidth(xLabel)) / 2, plot.bottom + 32, xLabel, INK);
  canvas.verticalText(left + 6, plot.bottom - (plot.bottom - plot.top - canvas.textWidth(panel.yLabel)) / 2, panel.yLabel, INK);

  for (const series of panel.series) {
    const sorted = series.points.filter((point) => Number.isFinite(point.y)).sort((a, b) => a.x - b.x);
    sorted.forEach((point, index) => {
      const next = sorted[index + 1];
      if (next) canvas.line(px(point.x), py(point.y), px(next.x), py(next.y), series.color, 3, series.dashed ? 6 : 0);
      canvas.rect(px(point.x) - 4, py(point.y) - 4, 9, 9, series.color);
    });
  }
}

/**
 * Two panels side by side above one legend. A series and its dashed twin (same label) share a legend
 * entry; `note` says what the dashes mean.
 */
export function drawChart(options: { title: string; panels: [Panel, Panel]; xLabel: string; note?: string }): Buffer {
  const width = 1400;
  const panelHeight = 520;
  const solid = options.panels.flatMap((panel) => panel.series).filter((series) => !series.dashed);
  const legend = [...new Map(solid.map((series) => [series.label, series])).values()];
  const legendRows = Math.ceil(legend.length / 2) + (options.note ? 1 : 0);
  const height = 50 + panelHeight + legendRows * 26 + 20;
  const canvas = new Canvas(width, height);
  canvas.text((width - canvas.textWidth(options.title)) / 2, 14, options.title, INK);
  drawPanel(canvas, options.panels[0], 0, 40, width / 2, panelHeight, options.xLabel);
  drawPanel(canvas, options.panels[1], width / 2, 40, width / 2, panelHeight, options.xLabel);
  legend.forEach((series, index) => {
    const x = 90 + (index % 2) * (width / 2);
    const y = 50 + panelHeight + Math.floor(index / 2) * 26;
    canvas.line(x, y + 7, x + 40, y + 7, series.color, 3, series.dashed ? 6 : 0);
    canvas.text(x + 52, y, series.label, INK);
  });
  if (options.note) canvas.text(90, 50 + panelHeight + Math.ceil(legend.length / 2) * 26, options.note, INK);
  return canvas.png();
}
