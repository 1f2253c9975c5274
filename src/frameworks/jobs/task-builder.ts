/**
 * From a job run and its place to a Mesos TaskInfo: the command (shell `cmd` or exec `args`), the
 * environment with the run's identity, fetched artifacts, the kill grace period, labels. Pure.
 */
import { plainEnv, secretTaskParts, secretVolumesOf } from '../sdk/secrets.ts';
import { hostVolumesOf, mesosHostVolumes } from '../sdk/host-volumes.ts';
import { MESOS_BRIDGE, mesosImageContainer } from '../sdk/container-image.ts';
import type { Resources } from '../../resources/index.ts';
import type { Job } from './job.ts';
import type { Run } from './run.ts';

export function buildJobTaskInfo(job: Job, run: Run, taskId: string, agentId: string, resources: Resources): Record<string, unknown> {
  const env: Record<string, string> = {
    ...plainEnv(job.run.env),
    DROVER_JOB_ID: job.id,
    DROVER_JOB_RUN_ID: run.id,
    METRONOME_JOB_ID: job.id,
    METRONOME_JOB_RUN_ID: run.id,
  };
  // References only: the agent resolves them at launch (src/protocol/mesos/secrets.ts).
  const secrets = job.run.secrets === undefined ? undefined : secretTaskParts(job.run.env, job.run.secrets, secretVolumesOf(job.run.volumes ?? []));
  const image =
    job.run.docker !== undefined
      ? { image: job.run.docker.image, forcePull: job.run.docker.forcePullImage === true }
      : job.run.ucr !== undefined
        ? { image: job.run.ucr.image.id, forcePull: job.run.ucr.image.forcePull === true }
        : undefined;
  const privileged = (job.run.docker?.privileged ?? job.run.ucr?.privileged) === true;
  // With an image, `args` go after its Entrypoint and no command at all runs its Entrypoint/Cmd (Mesos' rules).
  const command =
    job.run.cmd !== undefined
      ? { value: job.run.cmd, shell: true }
      : image !== undefined
        ? { shell: false, ...(job.run.args === undefined ? {} : { arguments: job.run.args }) }
        : { value: job.run.args?.[0] ?? '', shell: false, arguments: job.run.args ?? [] };
  const secretVolumes = [...(secrets?.volumes ?? []), ...mesosHostVolumes(hostVolumesOf(job.run.volumes ?? []))];
  // Named networks are CNI networks on the agent; container/bridge is its mesos-bridge (no port mappings in Metronome).
  const networkInfos = (job.run.networks ?? []).map((n) => ({ name: n.mode === 'container/bridge' ? MESOS_BRIDGE : n.name! }));
  const container =
    image === undefined && !privileged && secretVolumes.length === 0 && networkInfos.length === 0
      ? undefined
      : {
          ...(image === undefined ? { type: 'MESOS' } : mesosImageContainer(image)),
          ...(privileged ? { docker: { privileged: true } } : {}),
          ...(secretVolumes.length > 0 ? { volumes: secretVolumes } : {}),
          ...(networkInfos.length > 0 ? { network_infos: networkInfos } : {}),
        };
  return {
    name: `${job.id}.${run.id}`,
    task_id: { value: taskId },
    agent_id: { value: agentId },
    resources: resources.toJSON(),
    command: {
      ...command,
      environment: { variables: [...Object.entries(env).map(([name, value]) => ({ name, type: 'VALUE', value })), ...(secrets?.variables ?? [])] },
      ...(job.run.user ? { user: job.run.user } : {}),
      ...(job.run.artifacts.length > 0 ? { uris: job.run.artifacts.map((a) => ({ value: a.uri, extract: a.extract, executable: a.executable, cache: a.cache })) } : {}),
    },
    ...(job.run.taskKillGracePeriodSeconds !== undefined ? { kill_policy: { grace_period: { nanoseconds: Math.round(job.run.taskKillGracePeriodSeconds * 1e9) } } } : {}),
    ...(container === undefined ? {} : { container }),
    labels: { labels: Object.entries(job.labels).map(([key, value]) => ({ key, value })) },
  };
}
