/**
 * GET_LOGGING_LEVEL / SET_LOGGING_LEVEL: Mesos' level is glog's verbosity (0 by default, higher
 * is chattier) and a change lasts `duration`, then reverts. Drover's one logger is pino: 0 is the
 * level the process started with, 1 is `debug`, 2 and above `trace`.
 */
import type { Logger } from '../log/index.ts';

/** Mesos caps nothing; past 2 nothing more is logged, so a bound keeps the value meaningful. */
export const MAX_VERBOSITY = 100;

export class LoggingLevel {
  private verbosity = 0;
  private revert: NodeJS.Timeout | undefined;
  private readonly initial: string;

  constructor(private readonly log: Logger) {
    this.initial = log.level;
  }

  get level(): number {
    return this.verbosity;
  }

  set(verbosity: number, durationMs: number): void {
    if (this.revert !== undefined) clearTimeout(this.revert);
    this.revert = undefined;
    this.apply(verbosity);
    if (verbosity !== 0) {
      this.revert = setTimeout(() => this.apply(0), Math.min(durationMs, 2 ** 31 - 1));
      this.revert.unref();
    }
  }

  private apply(verbosity: number): void {
    this.verbosity = verbosity;
    this.log.level = verbosity === 0 ? this.initial : verbosity === 1 ? 'debug' : 'trace';
  }
}
