/**
 * Images in the frameworks' APIs (pure): the checks Marathon's `container.docker` and Metronome's
 * `run.docker` / `run.ucr` share, and the Mesos ContainerInfo both build from them. Every image
 * runs on the agents' own containerizer (no Docker daemon), as Mesos' `MESOS` containerizer with
 * `mesos.image` of type DOCKER: that is what the agent is sent, whichever type the API named.
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { isDroverError } from '../../errors/errors.ts';
import { parseReference } from '../../images/reference.ts';

/** Why `value` cannot be an image reference, or undefined. */
export function imageReferenceProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'must be an image reference ([registry/]name[:tag][@digest])';
  try {
    parseReference(value);
    return undefined;
  } catch (error) {
    return isDroverError(error) ? error.message : 'is not an image reference';
  }
}

/** A 422 detail for every key of `object` not in `allowed`, and for the fields that cannot be honoured. */
export function containerFieldErrors(object: Record<string, unknown>, at: string, allowed: readonly string[]): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    if (key === 'parameters') {
      // Arbitrary `docker run` options mean nothing without a Docker daemon; an empty list asks for nothing.
      if (Array.isArray(object[key]) && (object[key] as unknown[]).length === 0) continue;
      out.push({ path: `${at}/parameters`, errors: ['docker parameters (docker run options) cannot be honoured: images run without a Docker daemon'] });
    } else if (key === 'credential') {
      out.push({ path: `${at}/credential`, errors: ['credential is deprecated and not supported; use pullConfig with a secret'] });
    } else {
      out.push({ path: `${at}/${key}`, errors: ['unknown property'] });
    }
  }
  return out;
}

/** The bridge network's name in NetworkInfo (Marathon's --mesos_bridge_name default): each agent's own bridge (agent/network/cni-bridge.ts). */
export const MESOS_BRIDGE = 'mesos-bridge';

export interface ImageSpec {
  image: string;
  forcePull?: boolean;
  /** The secret store path of a Docker config.json to pull with. */
  pullSecretPath?: string;
}

/** The Mesos ContainerInfo of an image task (type MESOS, mesos.image DOCKER; `cached: false` forces a pull). */
export function mesosImageContainer(spec: ImageSpec): Record<string, unknown> {
  return {
    type: 'MESOS',
    mesos: {
      image: {
        type: 'DOCKER',
        docker: { name: spec.image, ...(spec.pullSecretPath === undefined ? {} : { config: { type: 'REFERENCE', reference: { name: spec.pullSecretPath } } }) },
        ...(spec.forcePull === true ? { cached: false } : {}),
      },
    },
  };
}
