/**
 * Mesos-DNS' label rules (names.ts says more), with nothing Node-only: the web UI shows an app's
 * names with the same functions the DNS server uses.
 */

/** Longest DNS label (RFC 1035). */
export const MAX_LABEL = 63;
/** Longest name (RFC 1035, in text form without the final dot). */
export const MAX_NAME = 253;

/** A DNS label from a Mesos name: Mesos-DNS' RFC 1123 rules. Empty when nothing is left. */
export function label(name: string): string {
  let out = name
    .toLowerCase()
    .replaceAll('.', '-')
    .replace(/[^a-z0-9-]/g, '');
  if (out.length > MAX_LABEL) out = out.slice(0, MAX_LABEL);
  return out.replace(/^-+/, '').replace(/-+$/, '');
}

/**
 * A framework's part of a name: Mesos-DNS keeps dots in framework names (each part a label), so
 * each dot-separated part is made a label on its own.
 */
export function frameworkLabel(name: string): string {
  return name
    .split('.')
    .map(label)
    .filter((l) => l !== '')
    .join('.');
}

/** Marathon's task name of an app: its path reversed, dot-separated (`/prod/web` → `web.prod`). */
export function marathonTaskName(appId: string): string {
  return appId
    .split('/')
    .filter((s) => s !== '')
    .reverse()
    .join('.');
}
