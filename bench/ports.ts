/**
 * Port bookkeeping under fragmentation: the workload that stalled Mesos near 10k containers in
 * its 50k-container demo. `--ops` random single-port operations over `--agents` PortPools of
 * [31000-32000]; each op picks a random agent and with 50% probability allocates (mostly a
 * random specific free port, which splits ranges; 1 in 8 is allocateAny) or frees a random
 * allocated port (which has to coalesce). Only the op loop is timed.
 *
 * Flags: --ops=1000000 --agents=10000 --seed=42 --prefill=0 (random specific ports allocated per
 * agent before timing, to start from an already fragmented state).
 */
import { PortPool } from '../src/resources/port-pool.ts';
import { RangeSet } from '../src/resources/range-set.ts';

const FIRST_PORT = 31000;
const PORTS = 1001;
/** How often a specific allocation may hit a taken port before the op counts as a miss. */
const SPECIFIC_TRIES = 4;

/** mulberry32: a tiny seeded uint32 generator, so a run can be replayed exactly. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function flag(args: string[], name: string, fallback: number): number {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
  return value;
}

export default async function ports(args: string[]): Promise<Record<string, unknown>> {
  const ops = flag(args, 'ops', 1_000_000);
  const agents = Math.max(1, flag(args, 'agents', 10_000));
  const seed = flag(args, 'seed', 42);
  const prefill = Math.min(PORTS, flag(args, 'prefill', 0));
  const next = mulberry32(seed);

  const range = RangeSet.of([[FIRST_PORT, FIRST_PORT + PORTS - 1]]);
  const pools = Array.from({ length: agents }, () => new PortPool(range));
  // The ports each agent has handed out, so a free can pick one at random in O(1).
  const held = new Int32Array(agents * PORTS);
  const heldCount = new Int32Array(agents);

  for (let agent = 0; agent < agents; agent++) {
    const pool = pools[agent]!;
    while (heldCount[agent]! < prefill) {
      const port = FIRST_PORT + (next() % PORTS);
      if (pool.allocate(port)) held[agent * PORTS + heldCount[agent]!++] = port;
    }
  }

  let allocations = 0;
  let frees = 0;
  let misses = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const agent = next() % agents;
    const pool = pools[agent]!;
    const r = next();
    const count = heldCount[agent]!;
    if ((r & 1) === 1) {
      let port: number | undefined;
      if ((r & 0b1110) === 0) {
        port = pool.allocateAny();
      } else {
        let candidate = FIRST_PORT + ((r >>> 4) % PORTS);
        for (let t = 1; t < SPECIFIC_TRIES && !pool.isFree(candidate); t++) candidate = FIRST_PORT + (next() % PORTS);
        if (pool.allocate(candidate)) port = candidate;
      }
      if (port === undefined) {
        misses++;
      } else {
        held[agent * PORTS + count] = port;
        heldCount[agent] = count + 1;
        allocations++;
      }
    } else if (count > 0) {
      // Swap-remove a random held port and return it to the pool.
      const slot = agent * PORTS + ((r >>> 4) % count);
      const port = held[slot]!;
      held[slot] = held[agent * PORTS + count - 1]!;
      heldCount[agent] = count - 1;
      pool.free(port);
      frees++;
    } else {
      misses++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  let ranges = 0;
  let allocated = 0;
  let maxRangesPerAgentMinusAllocated = -Infinity;
  let consistent = true;
  for (let agent = 0; agent < agents; agent++) {
    const pool = pools[agent]!;
    ranges += pool.freeRangeCount;
    allocated += pool.allocatedCount;
    maxRangesPerAgentMinusAllocated = Math.max(maxRangesPerAgentMinusAllocated, pool.freeRangeCount - pool.allocatedCount);
    // The O(1) counters must match a full recount of the bitmap (untimed).
    consistent &&= pool.allocatedCount === heldCount[agent] && pool.freeRanges().rangeCount === pool.freeRangeCount;
  }

  return {
    bench: 'ports',
    opsPerSecond: Math.round(ops / seconds),
    ranges,
    allocated,
    maxRangesPerAgentMinusAllocated,
    ops,
    agents,
    seconds: Number(seconds.toFixed(3)),
    allocations,
    frees,
    misses,
    prefill,
    seed,
    consistent,
    node: process.version,
  };
}
