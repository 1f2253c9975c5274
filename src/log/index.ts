/**
 * The one logger. Events are kebab-case names with structured fields:
 * `log.info({ taskId, agentId }, 'launched-task')`.
 *
 * An Error goes under `err` (pino's convention); `error` is serialized the same way, because an
 * Error's message and stack are not enumerable and would otherwise log as `"error":{}`.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; default stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/** type, message, stack, cause and any own fields of an Error; anything else as it is. */
const errorSerializer = pino.stdSerializers.err;

export const serializers = { err: errorSerializer, error: errorSerializer };

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    name: options.name ?? 'drover',
    level: options.level ?? process.env['DROVER_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    serializers,
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

/** A logger that drops everything, for tests that assert on behaviour, not on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
