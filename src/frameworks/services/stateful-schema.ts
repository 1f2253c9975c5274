/**
 * The app definition side of stateful (resident) apps (stateful.ts): `container.volumes[]` with
 * `persistent` validated, and Marathon's defaults and limits for apps that have them.
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { secretVolumeErrors, type SecretDecls } from '../sdk/secrets.ts';

export interface PersistentVolume {
  containerPath: string;
  /** MiB. */
  size: number;
}

const CONTAINER_PATH = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_SIZE_MIB = 1024 * 1024 * 1024;

// ---- the app definition ---------------------------------------------------------------------

function isPersistent(v: unknown): v is Record<string, unknown> & { persistent: unknown } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as Record<string, unknown>)['persistent'] !== undefined;
}

/**
 * `container.volumes`: persistent volumes checked here, the others (secret volumes) by
 * secretVolumeErrors, each error at its volume's own index.
 */
export function volumeErrors(volumes: unknown, secrets: SecretDecls | undefined, at: string, options: { image?: boolean } = {}): ErrorDetail[] {
  if (!Array.isArray(volumes)) return secretVolumeErrors(volumes, secrets, at, options);
  const out: ErrorDetail[] = [];
  const others: unknown[] = [];
  const index: number[] = [];
  const seen = new Set<string>();
  volumes.forEach((v, i) => {
    if (!isPersistent(v)) {
      others.push(v);
      index.push(i);
      return;
    }
    const here = `${at}/${i}`;
    const allowed = new Set(['containerPath', 'mode', 'persistent']);
    for (const k of Object.keys(v)) if (!allowed.has(k)) out.push({ path: `${here}/${k}`, errors: ['unknown property of a persistent volume'] });
    const path = v['containerPath'];
    if (typeof path !== 'string' || !CONTAINER_PATH.test(path) || path === '.' || path === '..') {
      out.push({ path: `${here}/containerPath`, errors: ['must be a single-level relative path (letters, digits, _.-; no /), as Marathon requires for persistent volumes'] });
    } else if (seen.has(path)) {
      out.push({ path: `${here}/containerPath`, errors: ['another volume has this containerPath'] });
    } else seen.add(path);
    if (v['mode'] !== undefined && v['mode'] !== 'RW') out.push({ path: `${here}/mode`, errors: ["persistent volumes are read-write: mode must be 'RW'"] });
    const p = v['persistent'];
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      out.push({ path: `${here}/persistent`, errors: ['must be an object'] });
      return;
    }
    const persistent = p as Record<string, unknown>;
    const type = persistent['type'] ?? 'root';
    if (type !== 'root')
      out.push({ path: `${here}/persistent/type`, errors: [`only 'root' persistent volumes (a directory in the agent's work dir) are supported, got ${JSON.stringify(type).slice(0, 40)}`] });
    const size = persistent['size'];
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_SIZE_MIB) out.push({ path: `${here}/persistent/size`, errors: ['must be a whole number of MiB, at least 1'] });
    for (const k of ['maxSize', 'profileName', 'constraints']) {
      if (persistent[k] !== undefined) out.push({ path: `${here}/persistent/${k}`, errors: [`${k} is not supported`] });
    }
  });
  for (const d of secretVolumeErrors(others, secrets, at, options)) {
    const rest = d.path.slice(at.length + 1);
    const j = Number.parseInt(rest, 10);
    out.push(Number.isInteger(j) && index[j] !== undefined ? { ...d, path: `${at}/${index[j]}${rest.slice(String(j).length)}` } : d);
  }
  return out;
}

/** The app's persistent volumes (already validated). */
export function persistentVolumesOf(volumes: unknown): PersistentVolume[] {
  if (!Array.isArray(volumes)) return [];
  return volumes.filter(isPersistent).map((v) => ({ containerPath: String(v['containerPath']), size: Number((v['persistent'] as Record<string, unknown>)['size']) }));
}

/** The other volumes (secret volumes): what the container runs with. */
export function nonPersistentVolumes(volumes: unknown): unknown[] {
  return Array.isArray(volumes) ? volumes.filter((v) => !isPersistent(v)) : [];
}

/**
 * Marathon's rules for resident apps: `unreachableStrategy` defaults to "disabled" (a replacement
 * elsewhere would start without the data), and the upgrade strategy to
 * {minimumHealthCapacity 0.5, maximumOverCapacity 0} — a new task takes the slot of the old one,
 * so no instance may be started over the count: a higher maximumOverCapacity is refused.
 */
export function residentDefaults(
  def: { unreachableStrategy?: unknown; upgradeStrategy?: { minimumHealthCapacity?: number; maximumOverCapacity?: number } },
  volumes: readonly PersistentVolume[],
): { errors: ErrorDetail[]; unreachableStrategy?: 'disabled'; upgradeStrategy?: { minimumHealthCapacity: number; maximumOverCapacity: number } } {
  if (volumes.length === 0) return { errors: [] };
  const errors: ErrorDetail[] = [];
  const over = def.upgradeStrategy?.maximumOverCapacity ?? 0;
  const min = def.upgradeStrategy?.minimumHealthCapacity ?? 0.5;
  if (over > 0) errors.push({ path: '/upgradeStrategy/maximumOverCapacity', errors: ['must be 0 for an app with persistent volumes (a new task takes the reservation of the one it replaces)'] });
  if (min > 0.5) errors.push({ path: '/upgradeStrategy/minimumHealthCapacity', errors: ['must be at most 0.5 for an app with persistent volumes'] });
  return { errors, ...(def.unreachableStrategy === undefined ? { unreachableStrategy: 'disabled' as const } : {}), upgradeStrategy: { minimumHealthCapacity: min, maximumOverCapacity: 0 } };
}

/**
 * The app's `container` as Marathon writes it: persistent volumes back among `container.volumes`
 * (the app keeps them apart as `persistentVolumes`), so a GET can be PUT back unchanged.
 */
export function marathonContainer(app: { container?: { type: string; volumes?: unknown[] } & Record<string, unknown>; persistentVolumes?: PersistentVolume[] }): Record<string, unknown> | undefined {
  const persistent = app.persistentVolumes ?? [];
  if (persistent.length === 0) return app.container;
  const volumes = [...(app.container?.volumes ?? []), ...persistent.map((v) => ({ containerPath: v.containerPath, mode: 'RW', persistent: { type: 'root', size: v.size } }))];
  return { ...(app.container ?? { type: 'MESOS' }), volumes };
}
