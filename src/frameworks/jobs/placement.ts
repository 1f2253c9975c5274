/**
 * Placement of one job run on one offer, pure: resources (cpus, mem, disk in the offer's own
 * roles, unreserved first), then each placement constraint (IS, LIKE, UNLIKE on `hostname` or an
 * agent attribute). A refusal carries its reason, which `/v1/queue` shows.
 */
import { Resources } from '../../resources/index.ts';
import type { Job } from './job.ts';

export interface OfferView {
  agentId: string;
  hostname: string;
  attributes: Record<string, string>;
  resources: Resources;
}

export type Fit = { resources: Resources } | { reason: string };

export function fit(job: Job, offer: OfferView): Fit {
  for (const c of job.run.placement.constraints) {
    const field = c.attribute === 'hostname' || c.attribute === '@hostname' ? offer.hostname : offer.attributes[c.attribute];
    const label = `constraint ${c.attribute} ${c.operator} ${c.value}`;
    if (c.operator === 'UNLIKE') {
      if (field !== undefined && fullMatch(c.value, field)) return { reason: `${label}: ${c.attribute} is ${field}` };
      continue;
    }
    if (field === undefined) return { reason: `${label}: agent has no ${c.attribute}` };
    if (c.operator === 'IS' && field !== c.value) return { reason: `${label}: ${c.attribute} is ${field}` };
    if (c.operator === 'LIKE' && !fullMatch(c.value, field)) return { reason: `${label}: ${c.attribute} is ${field}` };
  }
  const need = Resources.parse(`cpus:${job.run.cpus};mem:${job.run.mem}${job.run.disk > 0 ? `;disk:${job.run.disk}` : ''}`);
  const have = offer.resources.flatten();
  for (const name of ['cpus', 'mem', 'disk']) {
    const h = have.scalar(name).toNumber();
    const n = need.scalar(name).toNumber();
    if (h < n) return { reason: `insufficient ${name}: ${h} < ${n}` };
  }
  return { resources: takeFrom(offer.resources, need) };
}

/** `needed` (scalars) expressed in the offer's own roles, so the master accepts it. */
function takeFrom(offered: Resources, needed: Resources): Resources {
  let out = Resources.EMPTY;
  for (const want of needed) {
    let left = want.value;
    for (const have of offered) {
      if (have.name !== want.name || left.isEmpty || have.value.type !== 'SCALAR' || left.type !== 'SCALAR') continue;
      const take = have.value.milli < left.milli ? have.value : left;
      out = out.add(Resources.of([{ name: have.name, role: have.role, value: take }]));
      left = left.subtract(take);
    }
  }
  return out;
}

function fullMatch(pattern: string, value: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(value);
}
