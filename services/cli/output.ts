// Output helpers: aligned tables for people, JSON for scripts.
import { styleText } from 'node:util';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  color: boolean;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  color: process.stdout.isTTY && !process.env.NO_COLOR,
};

type Style = Parameters<typeof styleText>[0];

export function paint(io: Io, style: Style, text: string): string {
  return io.color ? styleText(style, text) : text;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
