/**
 * Marathon's own metrics (docs/docs/metrics.md in Marathon), read from the services framework's
 * state at scrape time, in the registry the master serves: `/metrics` gives them in Marathon's
 * JSON under their dotted names (`marathon.apps.active.gauge`), `/metrics/prometheus` under the
 * names Marathon's Prometheus reporter uses (dots → underscores).
 */
import { Gauge, type Registry } from 'prom-client';
import type { ServicesFramework } from './services.ts';

/** Marathon's name → its Prometheus name, as Marathon's reporter writes it. */
export const prometheusName = (marathonName: string): string => marathonName.replace(/[.-]/g, '_');

/** The parent groups of an app or pod id, root included (`/a/b/c` → `/`, `/a`, `/a/b`). */
function groupsOf(id: string, into: Set<string>): void {
  const parts = id.split('/').filter((p) => p !== '');
  into.add('/');
  for (let i = 1; i < parts.length; i++) into.add(`/${parts.slice(0, i).join('/')}`);
}

export function registerMarathonMetrics(registry: Registry, services: ServicesFramework, startedAtMs: number): void {
  const gauge = (name: string, help: string, value: () => number): void => {
    // Several frameworks in one test process: one gauge per registry, never the global one.
    if (registry.getSingleMetric(prometheusName(name)) !== undefined) registry.removeSingleMetric(prometheusName(name));
    new Gauge({
      name: prometheusName(name),
      help,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  };
  const instancesIn = (states: readonly string[]): number => {
    let n = 0;
    for (const i of services.instances.values()) if (states.includes(i.state)) n++;
    return n;
  };
  gauge('marathon.apps.active.gauge', 'The number of active apps', () => services.apps.size);
  gauge('marathon.pods.active.gauge', 'The number of active pods', () => services.pods.pods.size);
  gauge('marathon.groups.active.gauge', 'The number of active groups (the root group included)', () => {
    const groups = new Set<string>(['/']);
    for (const id of services.apps.keys()) groupsOf(id, groups);
    for (const id of services.pods.pods.keys()) groupsOf(id, groups);
    return groups.size;
  });
  gauge('marathon.deployments.active.gauge', 'The number of active deployments', () => services.deployments.list().length);
  gauge('marathon.instances.running.gauge', 'The number of running instances', () => instancesIn(['TASK_RUNNING']));
  gauge('marathon.instances.staged.gauge', 'The number of instances staged (launched, not running yet)', () => instancesIn(['TASK_STAGING', 'TASK_STARTING']));
  gauge('marathon.uptime.gauge.seconds', 'How long this services framework has been up', () => (services.now() - startedAtMs) / 1000);
}
