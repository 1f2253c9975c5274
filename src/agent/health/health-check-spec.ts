/**
 * TaskInfo.health_check, as Mesos' HealthCheck JSON, validated into a HealthCheckSpec (pure).
 * The protocol schema carries health_check opaquely, so this is where its shape is enforced: at
 * launch, a bad one becomes TASK_ERROR with the field and the reason, never an agent crash.
 *
 * Defaults are Mesos': delay 15 s, interval 10 s, timeout 20 s, 3 consecutive failures, grace
 * 10 s. Marathon's MESOS_HTTP / MESOS_TCP / COMMAND checks arrive here already translated.
 */

export type HealthProbe =
  | { type: 'HTTP'; port: number; path: string; scheme: 'http' | 'https'; statuses: number[] }
  | { type: 'TCP'; port: number }
  | { type: 'COMMAND'; value: string; shell: boolean; arguments: string[]; environment: Record<string, string> };

export interface HealthCheckSpec {
  probe: HealthProbe;
  delayMs: number;
  intervalMs: number;
  timeoutMs: number;
  /** Failures in a row (outside the grace period) before the task is reported unhealthy. */
  consecutiveFailures: number;
  gracePeriodMs: number;
}

export const HEALTH_CHECK_DEFAULTS = {
  delay_seconds: 15,
  interval_seconds: 10,
  timeout_seconds: 20,
  consecutive_failures: 3,
  grace_period_seconds: 10,
} as const;

export type ParsedHealthCheck = { ok: true; spec: HealthCheckSpec } | { ok: false; error: string };

class Invalid extends Error {}

type Json = Record<string, unknown>;

export function parseHealthCheck(raw: unknown): ParsedHealthCheck {
  try {
    return { ok: true, spec: parse(raw) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: `Invalid health check: ${err.message}` };
    throw err;
  }
}

function parse(raw: unknown): HealthCheckSpec {
  const hc = object(raw, 'health_check');
  // Older Mesos JSON has no `type`: the one kind present says it.
  const type = hc['type'] ?? (['http', 'tcp', 'command'] as const).filter((k) => hc[k] !== undefined).map((k) => k.toUpperCase())[0];
  let probe: HealthProbe;
  if (type === 'HTTP') {
    const http = object(hc['http'], 'http');
    const path = optionalString(http['path'], 'http.path') ?? '/';
    if (!path.startsWith('/')) throw new Invalid('http.path must start with "/"');
    const scheme = optionalString(http['scheme'], 'http.scheme') ?? 'http';
    if (scheme !== 'http' && scheme !== 'https') throw new Invalid('http.scheme must be "http" or "https"');
    const statuses = http['statuses'] ?? [];
    if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)) {
      throw new Invalid('http.statuses must be a list of HTTP status codes');
    }
    probe = { type: 'HTTP', port: port(http['port'], 'http.port'), path, scheme, statuses: statuses as number[] };
  } else if (type === 'TCP') {
    probe = { type: 'TCP', port: port(object(hc['tcp'], 'tcp')['port'], 'tcp.port') };
  } else if (type === 'COMMAND') {
    const command = object(hc['command'], 'command');
    const value = optionalString(command['value'], 'command.value');
    if (value === undefined || value === '') throw new Invalid('command.value is required');
    const shell = command['shell'] ?? true;
    if (typeof shell !== 'boolean') throw new Invalid('command.shell must be a boolean');
    const args = command['arguments'] ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new Invalid('command.arguments must be a list of strings');
    probe = { type: 'COMMAND', value, shell, arguments: args as string[], environment: environment(command['environment']) };
  } else {
    throw new Invalid(`type must be one of HTTP, TCP, COMMAND (got ${JSON.stringify(type ?? null)})`);
  }
  const d = HEALTH_CHECK_DEFAULTS;
  const intervalMs = seconds(hc['interval_seconds'], 'interval_seconds', d.interval_seconds);
  const timeoutMs = seconds(hc['timeout_seconds'], 'timeout_seconds', d.timeout_seconds);
  if (intervalMs <= 0) throw new Invalid('interval_seconds must be greater than 0');
  if (timeoutMs <= 0) throw new Invalid('timeout_seconds must be greater than 0');
  const failures = hc['consecutive_failures'] ?? d.consecutive_failures;
  if (typeof failures !== 'number' || !Number.isInteger(failures) || failures < 1) {
    throw new Invalid('consecutive_failures must be an integer of at least 1');
  }
  return {
    probe,
    delayMs: seconds(hc['delay_seconds'], 'delay_seconds', d.delay_seconds),
    intervalMs,
    timeoutMs,
    consecutiveFailures: failures,
    gracePeriodMs: seconds(hc['grace_period_seconds'], 'grace_period_seconds', d.grace_period_seconds),
  };
}

function object(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Invalid(`${path} must be an object`);
  return value as Json;
}

function optionalString(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Invalid(`${path} must be a string`);
  return value;
}

function port(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Invalid(`${path} must be an integer in 1..65535 (got ${JSON.stringify(value ?? null)})`);
  }
  return value;
}

/** A seconds field as milliseconds; a day at most, so a typo cannot park a timer for years. */
function seconds(value: unknown, path: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400) throw new Invalid(`${path} must be a number of seconds in 0..86400`);
  return Math.round(v * 1000);
}

function environment(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  const variables = object(value, 'command.environment')['variables'] ?? [];
  if (!Array.isArray(variables)) throw new Invalid('command.environment.variables must be a list');
  const env: Record<string, string> = {};
  for (const v of variables) {
    const variable = object(v, 'command.environment.variables[]');
    const name = optionalString(variable['name'], 'command.environment.variables[].name');
    if (name === undefined || name === '') throw new Invalid('command.environment.variables[].name is required');
    const val = optionalString(variable['value'], 'command.environment.variables[].value');
    if (val !== undefined) env[name] = val;
  }
  return env;
}
