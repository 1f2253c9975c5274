import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCgroupLayout, taskCgroupDirs } from './cgroups.ts';
import { linuxLaunchArgv } from './launch-command.ts';
import { parsePasswdLine, resolveTaskUser } from './task-user.ts';
import { encodeLaunchRequest } from './launcher.ts';
import { SETPRIV_BOUNDING_SET } from './task-privileges.ts';

// Trimmed from this project's VMs: hybrid, cpu and cpuacct as separate v1 hierarchies, the agent
// inside a memory cgroup of its own.
const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '38 31 0:35 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const HYBRID_CGROUP = ['8:pids:/', '6:freezer:/', '4:memory:/process_api/abc', '2:cpuacct:/', '1:cpu:/', '0::/'].join('\n');

describe('parseCgroupLayout', () => {
  test('hybrid: v1 hierarchies at the agent’s own paths; the task dirs go under drover/', () => {
    const layout = parseCgroupLayout(HYBRID_MOUNTINFO, HYBRID_CGROUP);
    assert.ok(!('problem' in layout) && layout.version === 1);
    assert.deepEqual(Object.fromEntries(layout.hierarchies), {
      cpu: '/sys/fs/cgroup/cpu',
      memory: '/sys/fs/cgroup/memory/process_api/abc',
      freezer: '/sys/fs/cgroup/freezer',
      pids: '/sys/fs/cgroup/pids',
      // cpuacct counts the task's CPU time for the usage sampler.
      cpuacct: '/sys/fs/cgroup/cpuacct',
    });
    assert.ok(taskCgroupDirs(layout, 'c1').includes('/sys/fs/cgroup/memory/process_api/abc/drover/c1'));
    assert.ok(taskCgroupDirs(layout, 'c1').includes('/sys/fs/cgroup/cpuacct/drover/c1'));
  });

  test('combined cpu,cpuacct mounts count as cpu; pure v2 is one directory; nothing usable is a problem', () => {
    const combined = parseCgroupLayout(
      '1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
      '2:cpu,cpuacct:/a\n1:memory:/a',
    );
    assert.ok(!('problem' in combined) && combined.version === 1);
    assert.equal(combined.hierarchies.get('cpu'), '/sys/fs/cgroup/cpu,cpuacct/a');
    // One directory serves both controllers: the task's cgroup is made (and joined) once there.
    assert.deepEqual(taskCgroupDirs(combined, 'c1'), ['/sys/fs/cgroup/cpu,cpuacct/a/drover/c1', '/sys/fs/cgroup/memory/a/drover/c1']);
    assert.deepEqual(parseCgroupLayout('1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', '0::/system.slice/drover.service'), { version: 2, dir: '/sys/fs/cgroup/system.slice/drover.service' });
    // Inside a container the hierarchy's root is the container's cgroup, mounted at the mount point.
    const nested = parseCgroupLayout('1 0 0:1 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory', '4:memory:/docker/x/agent');
    assert.ok(!('problem' in nested) && nested.version === 1);
    assert.equal(nested.hierarchies.get('memory'), '/sys/fs/cgroup/memory/agent');
    assert.ok('problem' in parseCgroupLayout('', ''));
  });
});

describe('linuxLaunchArgv', () => {
  const tools = { unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', mount: '/usr/bin/mount', mkdir: '/usr/bin/mkdir' };
  const base = { tools, procsFiles: ['/cg/a/cgroup.procs'], sandbox: '/sb', exitFile: '/sb/.drover-exit', argv: ['/bin/sh', '-c', 'echo hi'], privileged: false };

  test('joins the cgroup, then namespaces, setup, setpriv, wrapper, command — in that order', () => {
    const argv = linuxLaunchArgv({ ...base, user: { name: 'nobody', uid: 65534, gid: 65534 } });
    const at = (s: string): number => argv.indexOf(s);
    assert.equal(argv[0], '/bin/sh');
    assert.ok(at('/cg/a/cgroup.procs') < at('/usr/bin/unshare'));
    for (const flag of ['--pid', '--fork', '--kill-child', '--mount', '--ipc', '--uts', '--mount-proc']) assert.ok(argv.includes(flag), flag);
    assert.ok(at('drover-setup') < at('/usr/bin/setpriv') && at('/usr/bin/setpriv') < at('drover-task'));
    assert.ok(argv.includes('--reuid=65534') && argv.includes('--regid=65534') && argv.includes('--init-groups') && argv.includes('--no-new-privs'));
    assert.deepEqual(argv.slice(-3), ['/bin/sh', '-c', 'echo hi']);
  });

  test('setup gets the perl to make the host read-only in one call, or an empty slot to remount mount by mount', () => {
    const user = { name: 'root', uid: 0, gid: 0 };
    const slot = (argv: string[]): string | undefined => argv[argv.indexOf('drover-setup') + 4];
    assert.equal(slot(linuxLaunchArgv({ ...base, tools: { ...tools, perl: '/usr/bin/perl' }, user })), '/usr/bin/perl');
    assert.equal(slot(linuxLaunchArgv({ ...base, user })), '');
  });

  test('a network namespace is entered (nsenter) between the cgroup join and unshare; none without', () => {
    const user = { name: 'root', uid: 0, gid: 0 };
    const argv = linuxLaunchArgv({ ...base, user, netns: { nsenter: '/usr/bin/nsenter', path: '/run/netns/drover-c1' } });
    const at = (s: string): number => argv.indexOf(s);
    assert.ok(at('/cg/a/cgroup.procs') < at('/usr/bin/nsenter') && at('/usr/bin/nsenter') < at('/usr/bin/unshare'));
    assert.equal(argv[at('/usr/bin/nsenter') + 1], '--net=/run/netns/drover-c1');
    // The default path is exactly the argv it always was.
    assert.equal(
      linuxLaunchArgv({ ...base, user }).some((a) => a.includes('nsenter') || a.startsWith('--net')),
      false,
    );
  });

  test('root keeps its ids but, without perl, setpriv still limits its bounding set and sets no_new_privs; privileged keeps the set', () => {
    const argv = linuxLaunchArgv({ ...base, user: { name: 'root', uid: 0, gid: 0 } });
    assert.ok(argv.includes('--no-new-privs'));
    assert.ok(argv.includes(`--bounding-set=${SETPRIV_BOUNDING_SET}`) && argv.includes('--inh-caps=-all'));
    assert.equal(
      argv.some((a) => a.startsWith('--reuid')),
      false,
    );
    const privileged = linuxLaunchArgv({ ...base, privileged: true, user: { name: 'root', uid: 0, gid: 0 } });
    assert.equal(
      privileged.some((a) => a.startsWith('--bounding-set')),
      false,
    );
  });

  test('with perl, confine.pl replaces setpriv: configured for this machine, then uid gid groups privileged mask', () => {
    const argv = linuxLaunchArgv({ ...base, tools: { ...tools, perl: '/usr/bin/perl' }, user: { name: 'nobody', uid: 65534, gid: 65534, groups: [65534, 7] } });
    assert.equal(argv.includes('/usr/bin/setpriv'), false);
    const at = argv.indexOf('-e', argv.indexOf('drover-setup'));
    assert.equal(argv[at - 1], '/usr/bin/perl');
    assert.ok(argv.some((a) => a.startsWith('filter=')) && argv.some((a) => a.startsWith('caps=2818844155')));
    const ids = argv.indexOf('--', at);
    assert.deepEqual(argv.slice(ids + 1, ids + 7), ['65534', '65534', '65534,7', '0', '1', '--']);
    assert.ok(argv.indexOf('drover-task') > ids);
  });
});

test('parsePasswdLine', () => {
  assert.deepEqual(parsePasswdLine('nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'), { name: 'nobody', uid: 65534, gid: 65534 });
  assert.equal(parsePasswdLine(''), undefined);
  assert.equal(parsePasswdLine('bad:x:abc:1::/:/bin/sh'), undefined);
});

describe('resolveTaskUser', () => {
  test('launches arriving together share one lookup, which includes the groups', async () => {
    const users = await Promise.all(Array.from({ length: 50 }, () => resolveTaskUser('nobody')));
    // Separate lookups would each build their own object.
    assert.equal(new Set(users).size, 1);
    assert.equal(users[0]!.uid, 65534);
    assert.ok(users[0]!.groups?.includes(users[0]!.gid));
  });
});

describe('encodeLaunchRequest', () => {
  test('one line; tabs, newlines and % inside fields are escaped; lists carry their length', () => {
    const line = encodeLaunchRequest(7, {
      sandbox: '/s b',
      uid: 1,
      gid: 2,
      privileged: false,
      groups: [2, 3],
      procsFiles: ['/cg/a'],
      argv: ['/bin/sh', '-c', 'echo "a\tb"\nexit 3%'],
      env: { A: 'x=y', B: '' },
    });
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    const userns = encodeLaunchRequest(8, {
      sandbox: '/s',
      uid: 0,
      gid: 0,
      privileged: false,
      groups: [],
      procsFiles: [],
      userNamespace: { hostUid: 100000, hostGid: 200000, size: 65536 },
      argv: ['x'],
      env: {},
    });
    assert.deepEqual(userns.slice(0, -1).split('\t'), ['L', '8', '100000:200000:65536', '/s', '0', '0', '0', '0', '0', '', '', '', '', '0', '1', 'x', '0']);
    const image = encodeLaunchRequest(9, {
      sandbox: '/s',
      uid: 0,
      gid: 0,
      privileged: false,
      groups: [],
      procsFiles: [],
      image: { rootfs: '/r', workingDir: '/w', exitFile: '/x' },
      volumes: [
        { source: '/h', target: '/c', readOnly: true },
        { source: '/s/d', target: '/e', readOnly: false },
      ],
      argv: ['y'],
      env: {},
    });
    // Volumes: 3 fields each (source, target, read-only), counted as one list.
    assert.deepEqual(image.slice(0, -1).split('\t'), ['L', '9', '', '/s', '0', '0', '0', '0', '0', '', '/r', '/w', '/x', '6', '/h', '/c', '1', '/s/d', '/e', '0', '1', 'y', '0']);
    assert.deepEqual(line.slice(0, -1).split('\t'), [
      'L',
      '7',
      '',
      '/s b',
      '1',
      '2',
      '0',
      '2',
      '2',
      '3',
      '1',
      '/cg/a',
      '',
      '',
      '',
      '',
      '0',
      '3',
      '/bin/sh',
      '-c',
      'echo "a%09b"%0aexit 3%25',
      '2',
      'A=x=y',
      'B=',
    ]);
  });
});
