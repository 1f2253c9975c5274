import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  blockedSyscalls,
  BPF,
  capabilityMask,
  capabilityNames,
  CLONE_NAMESPACE_FLAGS,
  DEFAULT_CAPABILITIES,
  encodeFilter,
  SECCOMP_RET,
  seccompFilter,
  SETPRIV_BOUNDING_SET,
  type BpfInstruction,
  type SeccompArch,
} from './task-privileges.ts';

/** A classic-BPF interpreter for the opcodes the filter uses: what the kernel would answer. */
function run(program: readonly BpfInstruction[], data: { nr: number; arch: number; arg0?: number }): number {
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    if (code === BPF.LD_W_ABS) a = k === 0 ? data.nr >>> 0 : k === 4 ? data.arch >>> 0 : k === 16 ? (data.arg0 ?? 0) >>> 0 : assert.fail(`load at ${k}`);
    else if (code === BPF.JEQ_K) pc += a === k >>> 0 ? jt : jf;
    else if (code === BPF.JGE_K) pc += a >= k >>> 0 ? jt : jf;
    else if (code === BPF.JSET_K) pc += (a & k) !== 0 ? jt : jf;
    else if (code === BPF.RET_K) return k >>> 0;
    else assert.fail(`opcode ${code}`);
  }
  return assert.fail('fell off the end of the program');
}

const ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 } as const;
const NR = { x64: { mount: 165, clone: 56, clone3: 435, read: 0, write: 1, execve: 59 }, arm64: { mount: 40, clone: 220, clone3: 435, read: 63, write: 64, execve: 221 } } as const;
const EPERM = SECCOMP_RET.ERRNO | 1;

describe('seccomp filter', () => {
  for (const arch of ['x64', 'arm64'] as SeccompArch[]) {
    const program = seccompFilter(arch);
    const call = (nr: number, arg0 = 0): number => run(program, { nr, arch: ARCH[arch], arg0 });

    test(`${arch}: mount is EPERM, read/write/execve are allowed, another architecture is killed`, () => {
      assert.equal(call(NR[arch].mount), EPERM);
      for (const nr of [NR[arch].read, NR[arch].write, NR[arch].execve]) assert.equal(call(nr), SECCOMP_RET.ALLOW);
      assert.equal(run(program, { nr: 0, arch: 0x40000003 }), SECCOMP_RET.KILL_PROCESS); // i386
      assert.ok(program.length < 256 && encodeFilter(program).length === program.length * 16);
    });

    test(`${arch}: clone may not make namespaces; clone3 says ENOSYS so libc uses clone`, () => {
      assert.equal(call(NR[arch].clone, 0x01200011), SECCOMP_RET.ALLOW); // fork(): CLONE_CHILD_SETTID|CLEARTID|SIGCHLD
      assert.equal(call(NR[arch].clone, 0x10000000 | 0x11), EPERM); // CLONE_NEWUSER
      assert.equal(call(NR[arch].clone, 0x00020000), EPERM); // CLONE_NEWNS
      assert.equal(call(NR[arch].clone3), SECCOMP_RET.ERRNO | 38);
    });

    test(`${arch}: exactly the listed syscalls are denied (any number)`, () => {
      const denied = new Set(program.filter((p) => p.code === BPF.JEQ_K && p.jf === 0 && p.jt > 0 && p.k !== ARCH[arch]).map((p) => p.k));
      assert.equal(denied.size, blockedSyscalls(arch).length);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1023 }), (nr) => {
          if (nr === NR[arch].clone || nr === NR[arch].clone3) return;
          assert.equal(call(nr), denied.has(nr) ? EPERM : SECCOMP_RET.ALLOW, `syscall ${nr}`);
        }),
        { numRuns: 2000 },
      );
    });
  }

  test('x64: x32-ABI numbers (bit 30) are denied, so they cannot slip past the list', () => {
    assert.equal(run(seccompFilter('x64'), { nr: 0x40000000 + 165, arch: ARCH.x64 }), EPERM);
    assert.equal(run(seccompFilter('x64'), { nr: 0x40000000, arch: ARCH.x64 }), EPERM);
  });

  test('the list holds the ones the issue names', () => {
    const names = blockedSyscalls('x64');
    for (const name of [
      'mount',
      'umount2',
      'kexec_load',
      'init_module',
      'finit_module',
      'delete_module',
      'reboot',
      'swapon',
      'swapoff',
      'pivot_root',
      'unshare',
      'setns',
      'bpf',
      'perf_event_open',
      'keyctl',
      'add_key',
      'request_key',
      'open_by_handle_at',
    ]) {
      assert.ok(names.includes(name), name);
    }
    assert.equal(CLONE_NAMESPACE_FLAGS & 0x80, 0, 'the exit-signal bits of clone flags are not namespace flags');
  });
});

describe('capabilities', () => {
  test("the default set is Docker's: CapEff 00000000a80425fb, no SYS_ADMIN or SYS_MODULE", () => {
    assert.equal(capabilityMask(DEFAULT_CAPABILITIES).toString(16), 'a80425fb');
    const names = capabilityNames('00000000a80425fb');
    assert.equal(names.length, 14);
    assert.ok(!names.includes('SYS_ADMIN') && !names.includes('SYS_MODULE'));
    assert.ok(capabilityNames('000001ffffffffff').includes('SYS_ADMIN'));
    assert.match(SETPRIV_BOUNDING_SET, /^-all,\+chown,\+dac_override,/);
  });
});
