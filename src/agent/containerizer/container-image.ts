/**
 * The image a TaskInfo.container names, in either of Mesos' forms (pure):
 *
 *   { type: MESOS,  mesos: { image: { type: DOCKER, docker: { name, config? }, cached? } } }
 *   { type: DOCKER, docker: { image, force_pull_image? } }      (Mesos' DockerInfo)
 *
 * Both run on the agent's own containerizer: there is no Docker daemon. `cached: false` and
 * `force_pull_image: true` pull again even when the image is stored (Marathon's forcePullImage).
 * A pull secret given by value (`docker.config`, a Secret of type VALUE holding a Docker
 * config.json) is used for the pull; one given by reference is resolved by the supervisor.
 * What cannot be honoured (APPC images, a DOCKER container without an image) is an error that
 * names the field.
 */
import { parseDockerConfig } from '../../images/auth.ts';
import type { ContainerImage } from './containerizer.ts';

const MAX_REFERENCE = 512;

export type RequestedImage = { image?: ContainerImage; secretPath?: string } | { error: string };

type Loose = Record<string, unknown> | undefined;
const object = (value: unknown): Loose => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);

/** The image of a task's container, if it names one. */
export function requestedImage(container: unknown): RequestedImage {
  const c = object(container);
  if (c === undefined) return {};
  const mesosImage = object(object(c['mesos'])?.['image']);
  if (mesosImage !== undefined) {
    if (mesosImage['type'] !== 'DOCKER')
      return { error: `container.mesos.image.type ${String(mesosImage['type']).slice(0, 20)} is not supported: only DOCKER (OCI and Docker registries) images run here` };
    const docker = object(mesosImage['docker']);
    const name = docker?.['name'];
    if (typeof name !== 'string' || name === '' || name.length > MAX_REFERENCE) return { error: `container.mesos.image.docker.name must be an image reference of 1 to ${MAX_REFERENCE} characters` };
    const image: ContainerImage = { reference: name, ...(mesosImage['cached'] === false ? { force: true } : {}) };
    const config = object(docker?.['config']);
    if (config === undefined) return { image };
    return withSecret(image, config, 'container.mesos.image.docker.config');
  }
  if (c['type'] === 'DOCKER') {
    const docker = object(c['docker']);
    const name = docker?.['image'];
    if (typeof name !== 'string' || name === '' || name.length > MAX_REFERENCE) return { error: `container.docker.image must be an image reference of 1 to ${MAX_REFERENCE} characters` };
    return { image: { reference: name, ...(docker?.['force_pull_image'] === true ? { force: true } : {}) } };
  }
  return {};
}

/** A Mesos Secret as a pull secret: by value (a Docker config.json, base64) or by reference (a path in the secret store). */
function withSecret(image: ContainerImage, secret: Record<string, unknown>, path: string): RequestedImage {
  if (secret['type'] === 'VALUE') {
    const data = object(secret['value'])?.['data'];
    if (typeof data !== 'string' || data.length > 1024 * 1024) return { error: `${path}.value.data must be a base64 Docker config.json` };
    try {
      return { image: { ...image, pullSecret: parseDockerConfig(Buffer.from(data, 'base64').toString('utf8')) } };
    } catch (error) {
      return { error: `${path}: ${(error as Error).message}` };
    }
  }
  if (secret['type'] === 'REFERENCE') {
    const name = object(secret['reference'])?.['name'];
    if (typeof name !== 'string' || name === '' || name.length > 1024) return { error: `${path}.reference.name must name a secret` };
    return { image, secretPath: name };
  }
  return { error: `${path}.type must be VALUE or REFERENCE` };
}
