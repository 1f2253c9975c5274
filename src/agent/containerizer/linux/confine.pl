# Drover's task confinement (task-privileges.ts, docs/architecture/009-task-privileges.md): the
# steps that take root's powers away from a task, in the order the kernel allows them. Shared by
# the task launcher (launcher.pl, which this file is prepended to) and, with CONFINE_MAIN below
# it, by the command chain and `task exec` (launch-command.ts) as a small exec wrapper.
#
# Configuration, name=value arguments (task-privileges.ts computes them):
#   prctl capset mount setgroups setresgid setresuid   syscall numbers of this architecture
#   caps      the capability mask a root task keeps (decimal)
#   filter    the seccomp program, struct sock_filter[] as hex (empty: no filter on this arch)
#   masked    ':'-separated kernel files to hide;  readonly  ':'-separated ones to make read-only
# No `use warnings` or `use constant` (strict only checks at compile time): what is loaded here is
# copied by every fork of the launcher, and warnings.pm and constant.pm are ~0.6 MB of it.
use strict;

sub PR_CAPBSET_DROP () { 24 } sub PR_SET_NO_NEW_PRIVS () { 38 } sub PR_SET_SECCOMP () { 22 } sub SECCOMP_MODE_FILTER () { 2 }
sub EINVAL () { 22 }    # the same on x86-64 and arm64; `$!{EINVAL}` would load Errno in every task (~2 ms of CPU, measured)
sub PR_CAP_AMBIENT () { 47 } sub PR_CAP_AMBIENT_CLEAR_ALL () { 4 } sub LINUX_CAPABILITY_VERSION_3 () { 0x20080522 }
sub C_MS_RDONLY () { 1 } sub C_MS_NOSUID () { 2 } sub C_MS_NODEV () { 4 } sub C_MS_NOEXEC () { 8 } sub C_MS_BIND () { 4096 } sub C_MS_REC () { 16384 }
sub C_MOUNT_ATTR_RDONLY () { 1 } sub C_AT_RECURSIVE () { 0x8000 } sub C_AT_FDCWD () { -100 } sub C_SYS_MOUNT_SETATTR () { 442 }

# name=value arguments → a hash; syscall() passes a value as a number only if Perl holds it as one.
sub confine_config {
  my %c = map { split /=/, $_, 2 } grep { /=/ } @_;
  for my $name (qw(prctl capset mount setgroups setresgid setresuid)) {
    die "drover-confine: no syscall number for $name\n" unless defined $c{$name};
    $c{$name} = 0 + $c{$name};
  }
  $c{caps} = 0 + ($c{caps} // 0);
  $c{filter} = pack('H*', $c{filter} // '');
  $c{masked} = [grep { $_ ne '' } split /:/, $c{masked} // ''];
  $c{readonly} = [grep { $_ ne '' } split /:/, $c{readonly} // ''];
  return \%c;
}

# As root, in the task's own mount namespace and after its /proc is mounted: /proc/sys and the
# other read-only paths become read-only mounts; masked files get /dev/null bound over them,
# masked directories an empty read-only tmpfs. Returns an error or undef.
sub confine_kernel_files {
  my ($c) = @_;
  my $set = pack('QQQQ', C_MOUNT_ATTR_RDONLY, 0, 0, 0);
  for my $path (@{ $c->{readonly} }) {
    next unless -e $path;
    my $p = "$path";
    syscall($c->{mount}, $p, $p, 0, C_MS_BIND | C_MS_REC, 0) == 0 or return "cannot bind $path: $!";
    syscall(C_SYS_MOUNT_SETATTR, C_AT_FDCWD, $p, C_AT_RECURSIVE, $set, 32) == 0 or return "cannot make $path read-only: $!";
  }
  my ($null, $tmpfs, $name, $mode) = ('/dev/null', 'tmpfs', 'drover-masked', 'mode=555');
  for my $path (@{ $c->{masked} }) {
    next unless -e $path;
    my $p = "$path";
    if (-d $p) {
      syscall($c->{mount}, $name, $p, $tmpfs, C_MS_RDONLY | C_MS_NOSUID | C_MS_NODEV | C_MS_NOEXEC, $mode) == 0 or return "cannot mask $path: $!";
    } else {
      syscall($c->{mount}, $null, $p, 0, C_MS_BIND, 0) == 0 or return "cannot mask $path: $!";
    }
  }
  return undef;
}

# As root, last thing before the exec: bounding set, user and groups, capabilities, ambient set,
# no_new_privs, seccomp. The bounding set is dropped while we still hold CAP_SETPCAP; the
# switch to a non-root uid clears permitted and effective; a root task keeps `caps` only.
# A privileged task keeps root's capabilities and has no filter (a non-root one still loses its
# capabilities with the switch). Returns an error or undef.
sub confine_process {
  my ($c, $uid, $gid, $groups, $privileged) = @_;
  ($uid, $gid) = (0 + $uid, 0 + $gid);
  if (!$privileged) {
    for my $cap (0 .. 63) {
      next if ($c->{caps} >> $cap) & 1;
      next if syscall($c->{prctl}, PR_CAPBSET_DROP, $cap, 0, 0, 0) == 0;
      last if $! + 0 == EINVAL;    # past the kernel's last capability
      return "cannot drop capability $cap from the bounding set: $!";
    }
  }
  if ($uid != 0) {
    my @gids = map { 0 + $_ } (@$groups ? @$groups : ($gid));
    my $list = pack('L*', @gids);
    syscall($c->{setgroups}, scalar(@gids), $list) == 0 or return "setgroups: $!";
    syscall($c->{setresgid}, $gid, $gid, $gid) == 0 or return "setresgid $gid: $!";
    syscall($c->{setresuid}, $uid, $uid, $uid) == 0 or return "setresuid $uid: $!";
  }
  if (!$privileged) {
    my $keep = $uid == 0 ? $c->{caps} : 0;
    my ($lo, $hi) = ($keep & 0xffffffff, $keep >> 32);
    my $header = pack('LL', LINUX_CAPABILITY_VERSION_3, 0);
    my $data = pack('L6', $lo, $lo, 0, $hi, $hi, 0);    # effective, permitted, inheritable ×2
    syscall($c->{capset}, $header, $data) == 0 or return "capset: $!";
  }
  # Before 4.3 there is no ambient set to clear.
  syscall($c->{prctl}, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0 or $! + 0 == EINVAL or return "clearing ambient capabilities: $!";
  syscall($c->{prctl}, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 or return "no_new_privs: $!";
  if (!$privileged && length $c->{filter}) {
    my $filter = $c->{filter};
    my $prog = pack('S x6 P', length($filter) / 8, $filter);    # struct sock_fprog
    syscall($c->{prctl}, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, $prog, 0, 0) == 0 or return "seccomp: $!";
  }
  return undef;
}
