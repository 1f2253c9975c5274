/**
 * A private network on this machine for fault tests: a Linux bridge in the root namespace (the
 * master listens on its address) and one network namespace per agent, joined to the bridge by a
 * veth pair. Faults are made where they happen in a real datacenter — on the agent's link:
 *
 * - `partition(node, 'both' | 'out' | 'in', peer)`: iptables DROP rules in the agent's namespace
 *   for the TCP traffic to (`out`: agent → master) and/or from (`in`: master → agent) the peer's
 *   port. Only that port: the test can still read the agent's own API over the same link.
 * - `lossy(node, probability, peer)`: the same rules with `-m statistic --mode random`, dropping
 *   that share of the packets both ways (TCP retransmits, as on a bad link).
 * - `heal(node)`: flushes the namespace's INPUT and OUTPUT chains (only ours are in them).
 *
 * Why iptables `statistic` and not `tc qdisc … netem` for loss: netem is a kernel option
 * (CONFIG_NET_SCH_NETEM) that kernels without modules may lack (`tc` then answers "Specified
 * qdisc kind is unknown"); `netemAvailable()` says which. Delay without netem is
 * devkit/delay-relay.ts.
 *
 * Names carry a random suffix (bridge `dfb<hex>`, namespaces `dfn<hex>-<i>`, veths `dfv<hex><i>`),
 * so concurrent suites never collide; `destroy()` removes the namespaces (and with them the veths
 * and rules) and the bridge, and is safe to call after a failure or twice. Needs root, `ip` and
 * `iptables` (Debian: iproute2, iptables).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NetNode {
  /** The namespace's name, for `ip netns exec`. */
  readonly ns: string;
  /** The node's address on the bridge. */
  readonly ip: string;
  /** Prefix a command with this to run it inside the node's namespace. */
  readonly exec: readonly string[];
}

export interface Peer {
  ip: string;
  port: number;
}

export interface Lan {
  /** The root namespace's address on the bridge (where the master listens). */
  readonly hostIp: string;
  readonly bridge: string;
  readonly nodes: readonly NetNode[];
  addNode(): NetNode;
  partition(node: NetNode, direction: 'both' | 'out' | 'in', peer: Peer): void;
  lossy(node: NetNode, probability: number, peer: Peer): void;
  heal(node: NetNode): void;
  /** Processes still running inside the node's namespace (`ip netns pids`). */
  pids(node: NetNode): number[];
  destroy(): void;
}

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).toString();
}

function tryRun(cmd: string, args: readonly string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

/** Why network namespaces with iptables cannot be used here, or undefined if they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['ip', 'iptables']) if (!tryRun('sh', ['-c', `command -v ${tool}`])) return `${tool} is missing`;
  return undefined;
}

/** Whether this kernel has the netem qdisc (tried on the loopback of a throw-away namespace). */
export function netemAvailable(): boolean {
  const ns = `dfq${randomBytes(3).toString('hex')}`;
  if (!tryRun('ip', ['netns', 'add', ns])) return false;
  try {
    return tryRun('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
  } finally {
    tryRun('ip', ['netns', 'del', ns]);
  }
}

/** A free 10.x.y.0/24 (not on any route of the root namespace), picked at random. */
function freeSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 50; i++) {
    const [a, b] = randomBytes(2);
    const subnet = `10.${200 + (a! % 50)}.${b! % 250}`;
    if (!routes.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 subnet found');
}

export function createLan(): Lan {
  const tag = randomBytes(3).toString('hex');
  const subnet = freeSubnet();
  const bridge = `dfb${tag}`;
  const hostIp = `${subnet}.1`;
  const nodes: NetNode[] = [];
  run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  try {
    run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
  } catch (error) {
    tryRun('ip', ['link', 'del', bridge]);
    throw error;
  }
  const iptables = (node: NetNode, args: string[]): void => void run('ip', ['netns', 'exec', node.ns, 'iptables', '-w', ...args]);
  const portRules = (peer: Peer, direction: 'out' | 'in', extra: string[]): string[] =>
    direction === 'out'
      ? ['-A', 'OUTPUT', '-p', 'tcp', '-d', peer.ip, '--dport', String(peer.port), ...extra, '-j', 'DROP']
      : ['-A', 'INPUT', '-p', 'tcp', '-s', peer.ip, '--sport', String(peer.port), ...extra, '-j', 'DROP'];
  let destroyed = false;

  return {
    hostIp,
    bridge,
    nodes,
    addNode() {
      const i = nodes.length;
      if (i > 200) throw new Error('at most 200 nodes on one lan');
      const node: NetNode = { ns: `dfn${tag}-${i}`, ip: `${subnet}.${10 + i}`, exec: ['ip', 'netns', 'exec', `dfn${tag}-${i}`] };
      const outside = `dfv${tag}${i}`;
      const inside = `dfi${tag}${i}`;
      run('ip', ['netns', 'add', node.ns]);
      nodes.push(node);
      run('ip', ['link', 'add', outside, 'type', 'veth', 'peer', 'name', inside]);
      run('ip', ['link', 'set', inside, 'netns', node.ns]);
      run('ip', ['link', 'set', outside, 'master', bridge]);
      run('ip', ['link', 'set', outside, 'up']);
      run('ip', ['-n', node.ns, 'addr', 'add', `${node.ip}/24`, 'dev', inside]);
      run('ip', ['-n', node.ns, 'link', 'set', inside, 'up']);
      run('ip', ['-n', node.ns, 'link', 'set', 'lo', 'up']);
      return node;
    },
    partition(node, direction, peer) {
      if (direction !== 'in') iptables(node, portRules(peer, 'out', []));
      if (direction !== 'out') iptables(node, portRules(peer, 'in', []));
    },
    lossy(node, probability, peer) {
      if (!(probability > 0 && probability < 1)) throw new Error(`loss probability must be in (0, 1), got ${probability}`);
      const statistic = ['-m', 'statistic', '--mode', 'random', '--probability', String(probability)];
      iptables(node, portRules(peer, 'out', statistic));
      iptables(node, portRules(peer, 'in', statistic));
    },
    heal(node) {
      iptables(node, ['-F', 'INPUT']);
      iptables(node, ['-F', 'OUTPUT']);
    },
    pids(node) {
      if (destroyed) return [];
      try {
        return run('ip', ['netns', 'pids', node.ns])
          .split('\n')
          .map((l) => Number(l.trim()))
          .filter((p) => Number.isInteger(p) && p > 0);
      } catch {
        return [];
      }
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      // Deleting a namespace deletes its end of the veth, which deletes the pair, and its rules.
      for (const node of nodes) tryRun('ip', ['netns', 'del', node.ns]);
      tryRun('ip', ['link', 'del', bridge]);
    },
  };
}
