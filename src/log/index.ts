/**
 * The one logger. Events are kebab-case names with structured fields:
 * `log.info({ taskId, agentId }, 'launched-task')`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    name: options.name ?? 'drover',
    level: options.level ?? process.env['DROVER_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
  });
}

/** A logger that drops everything, for tests that assert on behaviour, not on logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
