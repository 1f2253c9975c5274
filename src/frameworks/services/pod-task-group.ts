/**
 * A pod instance as Mesos runs it: the LAUNCH_GROUP operation (a DEFAULT executor holding the
 * instance's network namespace, one task per container with its image, command, volumes, health
 * check and kill policy), and the addresses a task's status reports back. Pure: pods.ts decides
 * where and with what, this says it in Mesos' JSON.
 */
import type { TaskStatus } from '../../protocol/mesos/scheduler.ts';
import type { OfferJson } from '../sdk/scheduler.ts';
import { BRIDGE_NETWORK, type Pod, type PodContainer, podNetworkNames } from './pod-schema.ts';
import type { PodFit } from './pod-offer-fit.ts';

/** The LAUNCH_GROUP operation of one pod instance: its executor (with the instance's networks) and one task per container. */
export function launchGroupOperation(pod: Pod, instanceId: string, agentId: OfferJson['agent_id'], fit: PodFit): unknown {
  const ports = fit.ports;
  const networks = podNetworkNames(pod);
  const endpoints = pod.containers.flatMap((ct) => ct.endpoints);
  // Marathon's ENDPOINT_<NAME>: the port to listen on, the container port on container networks.
  const portEnv = endpoints.flatMap((e) => {
    const port = networks.length > 0 ? (e.containerPort ?? ports[e.name]) : ports[e.name];
    return port === undefined ? [] : [{ name: `ENDPOINT_${e.name.toUpperCase().replace(/-/g, '_')}`, value: String(port) }];
  });
  // One namespace for the instance on its networks (the executor's), host ports forwarded to container ports on the first.
  const mappings = endpoints.flatMap((e) =>
    ports[e.name] === undefined || e.containerPort === undefined ? [] : e.protocol.map((protocol) => ({ host_port: ports[e.name]!, container_port: e.containerPort!, protocol })),
  );
  const executorContainer =
    networks.length === 0
      ? { type: 'MESOS' }
      : {
          type: 'MESOS',
          network_infos: pod.networks.flatMap((n, i) =>
            n.mode === 'host'
              ? []
              : [
                  {
                    name: n.mode === 'container' ? n.name : BRIDGE_NETWORK,
                    ...(i === 0 && mappings.length > 0 ? { port_mappings: mappings } : {}),
                    labels: { labels: Object.entries(n.labels).map(([key, value]) => ({ key, value })) },
                  },
                ],
          ),
        };
  return {
    type: 'LAUNCH_GROUP',
    launch_group: {
      executor: {
        type: 'DEFAULT',
        executor_id: { value: `instance-${instanceId}` },
        resources: fit.json?.executor ?? fit.executor.toJSON(),
        container: executorContainer,
      },
      task_group: {
        tasks: pod.containers.map((ct, index) => {
          const env = { ...pod.environment, ...ct.environment };
          // No command with an image: the agent runs the image's Entrypoint and Cmd.
          const command: Record<string, unknown> =
            ct.exec.command.shell !== undefined
              ? { shell: true, value: ct.exec.command.shell }
              : ct.exec.command.argv !== undefined
                ? { shell: false, value: ct.exec.command.argv[0], arguments: ct.exec.command.argv }
                : { shell: false };
          const user = ct.user ?? pod.user;
          return {
            name: ct.name,
            task_id: { value: `${instanceId}.${ct.name}` },
            agent_id: agentId,
            resources: fit.json?.tasks[index] ?? fit.tasks[index]!.toJSON(),
            command: {
              ...command,
              environment: {
                variables: [
                  ...Object.entries(env).map(([name, value]) => ({ name, value })),
                  ...portEnv,
                  { name: 'MARATHON_APP_ID', value: pod.id },
                  { name: 'MESOS_TASK_ID', value: `${instanceId}.${ct.name}` },
                ],
              },
              ...(user === undefined ? {} : { user }),
              ...(ct.artifacts.length === 0
                ? {}
                : {
                    uris: ct.artifacts.map((a) => ({ value: a.uri, extract: a.extract, executable: a.executable, cache: a.cache, ...(a.destPath === undefined ? {} : { output_file: a.destPath }) })),
                  }),
            },
            container: {
              type: 'MESOS',
              // Each container's own root filesystem, pulled and provisioned by the agent as an app's.
              ...(ct.image === undefined ? {} : { mesos: { image: { type: 'DOCKER', docker: { name: ct.image.id }, ...(ct.image.forcePull ? { cached: false } : {}) } } }),
              volumes: volumesOf(pod, ct),
            },
            ...(ct.healthCheck === undefined ? {} : { health_check: healthCheckOf(ct, ports, networks.length > 0) }),
            ...(ct.lifecycle === undefined ? {} : { kill_policy: { grace_period: { nanoseconds: Math.round(ct.lifecycle.killGracePeriodSeconds * 1e9) } } }),
            labels: { labels: Object.entries(ct.labels).map(([key, value]) => ({ key, value })) },
          };
        }),
      },
    },
  };
}

function volumesOf(pod: Pod, ct: PodContainer): unknown[] {
  return ct.volumeMounts.map((m) => {
    const v = pod.volumes.find((x) => x.name === m.name)!;
    const mode = m.readOnly === true ? 'RO' : 'RW';
    return v.host === undefined
      ? { container_path: m.mountPath, mode, source: { type: 'SANDBOX_PATH', sandbox_path: { type: 'PARENT', path: `volumes/${v.name}` } } }
      : { container_path: m.mountPath, mode, source: { type: 'HOST_PATH', host_path: { path: v.host } } };
  });
}

/** A pod container's health check as Mesos HealthCheck JSON (the agent runs it). */
function healthCheckOf(ct: PodContainer, hostPorts: Record<string, number>, containerNetwork: boolean): Record<string, unknown> {
  const hc = ct.healthCheck!;
  // On a container network the agent checks the instance's address there, at the container port.
  const ports: Record<string, number | undefined> = containerNetwork ? Object.fromEntries(ct.endpoints.map((e) => [e.name, e.containerPort ?? hostPorts[e.name]])) : hostPorts;
  const common = {
    delay_seconds: hc.delaySeconds,
    interval_seconds: hc.intervalSeconds,
    timeout_seconds: hc.timeoutSeconds,
    consecutive_failures: hc.maxConsecutiveFailures,
    grace_period_seconds: hc.gracePeriodSeconds,
  };
  if (hc.http) return { ...common, type: 'HTTP', http: { port: ports[hc.http.endpoint], path: hc.http.path, scheme: hc.http.scheme.toLowerCase() } };
  if (hc.tcp) return { ...common, type: 'TCP', tcp: { port: ports[hc.tcp.endpoint] } };
  const cmd = hc.exec!.command;
  return { ...common, type: 'COMMAND', command: cmd.shell !== undefined ? { shell: true, value: cmd.shell } : { shell: false, value: cmd.argv![0], arguments: cmd.argv } };
}

/** The instance's addresses from a status' ContainerStatus.network_infos (Marathon's instance `networks`). */
export function networkAddresses(status: TaskStatus): Array<{ name: string; addresses: string[] }> | undefined {
  const infos = (status.container_status as { network_infos?: Array<{ name?: unknown; ip_addresses?: Array<{ ip_address?: unknown }> }> } | undefined)?.network_infos;
  if (!Array.isArray(infos) || infos.length === 0) return undefined;
  return infos.slice(0, 16).map((n) => ({
    name: typeof n.name === 'string' ? n.name.slice(0, 256) : '',
    addresses: (Array.isArray(n.ip_addresses) ? n.ip_addresses : []).flatMap((a) => (typeof a.ip_address === 'string' ? [a.ip_address.slice(0, 64)] : [])).slice(0, 16),
  }));
}
