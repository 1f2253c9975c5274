/** Human output: aligned columns with a header, or JSON with `--json`. */
export function table(headers: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export function print(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human());
}

/**
 * Every time the CLI prints, in one format: UTC to the second, ISO 8601 (`2026-12-07T10:12:04Z`).
 * Takes what the APIs return: ISO strings (with `Z` or Metronome's `+0000`), epoch seconds, Dates.
 */
export function when(value: string | number | Date | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value * 1000 : Date.parse(value);
  if (!Number.isFinite(ms)) return String(value);
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
