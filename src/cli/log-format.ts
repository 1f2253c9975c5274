/**
 * `--log-format json|pretty` for the server commands: JSON lines (pino's own, for machines and
 * log shippers) or one readable line per event for a person at a terminal:
 *
 *   10:12:04 INFO  master  framework-subscribed  name=marathon frameworkId=d3d2…-0000
 *
 * The default is pretty on a terminal and JSON otherwise (a pipe, a file, systemd's journal).
 */
import type { DestinationStream } from 'pino';

export type LogFormat = 'json' | 'pretty';

export const LOG_FORMAT_FLAG = {
  type: 'string',
  choices: ['json', 'pretty'],
  describe: 'Log lines as JSON or as readable text (default: pretty on a terminal, JSON otherwise)',
} as const;

export function logFormat(flag: string | undefined, stream: { isTTY?: boolean } = process.stdout): LogFormat {
  if (flag === 'json' || flag === 'pretty') return flag;
  return stream.isTTY === true ? 'pretty' : 'json';
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 40: '\u001b[33m', 50: '\u001b[31m', 60: '\u001b[31m' };
/** Fields every line has, shown in the line's head or not at all. */
const HEAD = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'part']);
/** A field longer than this is cut (a whole TaskInfo in one line helps nobody reading). */
const MAX_FIELD = 200;

function field(value: unknown): string {
  const text = typeof value === 'string' ? (/[\s"=]/.test(value) ? JSON.stringify(value) : value) : JSON.stringify(value);
  return text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}…` : text;
}

/** One pino JSON line as a readable line; a line that is not JSON comes back as it is. */
export function prettyLine(line: string, color = false): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof event['level'] === 'number' ? event['level'] : 30;
  const time = typeof event['time'] === 'number' ? new Date(event['time']).toISOString().slice(11, 19) : '';
  const part = typeof event['part'] === 'string' ? event['part'] : '';
  const rest: string[] = [];
  let error = '';
  for (const [key, value] of Object.entries(event)) {
    if (HEAD.has(key) || value === undefined) continue;
    if ((key === 'err' || key === 'error') && value !== null && typeof value === 'object') {
      const e = value as { message?: string; stack?: string };
      error = `\n    ${(level >= 50 && e.stack ? e.stack : (e.message ?? JSON.stringify(e))).split('\n').join('\n    ')}`;
      continue;
    }
    rest.push(`${key}=${field(value)}`);
  }
  const tag = LEVELS[level] ?? String(level);
  const paint = color && COLORS[level] !== undefined ? (s: string) => `${COLORS[level]}${s}\u001b[0m` : (s: string) => s;
  return `${time} ${paint(tag)} ${part.padEnd(8)} ${String(event['msg'] ?? '')}${rest.length > 0 ? `  ${rest.join(' ')}` : ''}${error}\n`;
}

/** Where a logger writes in the chosen format (stdout). */
export function logDestination(format: LogFormat, out: NodeJS.WriteStream = process.stdout): DestinationStream | undefined {
  if (format === 'json') return undefined;
  const color = out.isTTY === true && process.env['NO_COLOR'] === undefined;
  return { write: (line: string) => void out.write(prettyLine(line, color)) };
}
