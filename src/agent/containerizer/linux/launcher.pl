# Drover's task launcher (see launcher.ts): one small, long-lived Perl process per agent that
# starts Linux tasks with system calls, so the agent neither forks its own (large) process per
# task nor runs a chain of util-linux programs. perl-base is part of every Debian system, and
# only its core modules are used.
#
# confine.pl is prepended to this file (the steps that take root's powers away from a task).
# Arguments, name=value: syscall numbers for this architecture (unshare, mount, setns, prctl,
# capset, setgroups, setresgid, setresuid; mount_setattr is 442 everywhere) and confine.pl's
# configuration (caps, filter, masked, readonly).
#
# Requests, one per line on stdin, tab-separated, every field percent-encoded (%XX):
#   L  id  userns-or-empty  sandbox  uid  gid  privileged(0/1)  n groups…  n cgroup.procs files…
#      netns-path-or-empty  rootfs-or-empty  workdir  exit-file
#      3n volumes (source target ro)…  n argv…  n env…  [resolv.conf]
# resolv.conf, when given, is a host file bound read-only over the task's /etc/resolv.conf (the
# agent's resolver, --dns): on the host's tree and in an image's root alike.
# A volume (container-volumes.ts) binds `source` (a real host path, checked by the agent) at
# `target`: a path inside the image's root, or without an image a path in the sandbox. Every
# directory on the way to the target is checked not to be a symbolic link and created if missing.
# rootfs (an image's overlay mount, src/images/rootfs.ts) makes the task's root that filesystem:
# the sandbox bound at /mnt/mesos/sandbox, a fresh /proc, a minimal /dev, the host's /etc/hosts and
# /etc/resolv.conf read-only, pivot_root, the host's tree detached, then `workdir`. There I stays
# PID 1 and does the exit-status wrapper's job itself (an image need not have /bin/sh): it runs the
# argv as its child and writes how it ended to exit-file (a path inside the container).
# userns is "hostuid:hostgid:size": the task gets a user namespace in which uids and gids
# 0..size-1 are hostuid… and hostgid… on the host (--user-namespaces; uid/gid/groups are then
# the task's ids inside it).
# Replies on stdout, one line each (each written whole by one write(2), so the three writers —
# this process, a task's init before its exec, a mapper — never interleave):
#   S id pid        the task exists: pid (in the host's pid namespace) is its namespace's init
#   R id            its setup is done and its command is about to start
#   E pid code sig  a task's init ended (code or signal number, the other one -1)
#   F id reason     nothing was started
#   D id 0|reason   a mount request is done (0) or failed
# Mount requests (an image's rootfs, src/images/rootfs.ts), done in the launcher itself, in the
# agent's mount namespace, so the agent forks no mount(8)/umount(8) per task:
#   M  id  cwd  options  target    mount an overlay at target (lower dirs relative to cwd)
#   U  id  target                  detach every mount at target (lazily); not mounted is done too
# EOF on stdin (the agent stopped or died) ends the launcher; the tasks run on.
#
# The template mount namespace (make_template below): built once at start by a short-lived child T,
# held open by a descriptor; an image task's I takes detached copies (open_tree) of its root, its
# sandbox and the host's hosts/resolv.conf, enters the template and unshares from there, so its
# namespace starts with the template's seven mounts instead of a copy of the host's whole tree.
#
# How a task starts (one fork per task: docs/architecture/019-launch-path.md):
#   launcher: unshare the pid namespace (for its next child only), fork I, return to its own pid
#             namespace; [fork M, which writes I's user namespace maps when I asks, then exits].
#   I (PID 1 of the new pid namespace, the launcher's child: it reports how I ended):
#             stdout/stderr into the sandbox; join the cgroups; [enter the network namespace];
#             [an image task without volumes: copies of what it needs, then the template];
#             unshare the mount, ipc and uts namespaces; report "S id pid(I)"; its own session;
#             a private mount tree with a fresh /proc; the sandbox bound onto itself; everything
#             else read-only (mount_setattr, recursive); a fresh tmpfs on /tmp and /dev/shm;
#             /proc/sys read-only and kernel files masked; [a user namespace of its own, mapped
#             by M, becoming its root]; bounding set, the task's user and groups, capabilities,
#             no_new_privs, seccomp (confine.pl, all skipped but the user for a privileged task);
#             "R id"; exec the argv (the exit-status wrapper, exit-status.ts, which runs the
#             command).
# A failed step before "S" is an F line (I exits; no E line is awaited for it); a failed step
# after it exits 125 with the reason on the task's stderr, so the task fails saying why instead
# of running with a writable host.
# The sandbox's stdout and stderr are opened in I before it leaves the host's mount namespace: a
# file open for writing on the task's copy of a mount would make mount_setattr refuse to make it
# read-only.

my %nr = map { split /=/, $_, 2 } @ARGV;
for my $name (qw(unshare mount setns prctl setgroups setresgid setresuid pivot_root umount2 setsid exit_group close)) {
  die "drover-launcher: no syscall number for $name\n" unless defined $nr{$name};
}
my $confine = confine_config(@ARGV);
# POSIX is not loaded (2.3 MB more to copy on every fork): _exit and setsid are system calls here.
sub quit { syscall(0 + $nr{exit_group}, 0 + $_[0]); die "drover-launcher: exit_group returned\n" }
my ($SYS_mount_setattr, $SYS_open_tree, $SYS_move_mount) = (442, 428, 429);

# Constants are subs with an empty prototype (inlined when compiled, as `use constant` makes them):
# constant.pm and Fcntl would add ~0.8 MB to a launcher every fork copies (019-launch-path.md).
sub F_GETFL () { 3 } sub F_SETFL () { 4 } sub O_NONBLOCK () { 0x800 }    # x86-64 and arm64 alike
sub CLONE_NEWNS () { 0x00020000 } sub CLONE_NEWUTS () { 0x04000000 } sub CLONE_NEWIPC () { 0x08000000 }
sub CLONE_NEWPID () { 0x20000000 } sub CLONE_NEWNET () { 0x40000000 } sub CLONE_NEWUSER () { 0x10000000 }
sub MS_NOSUID () { 2 } sub MS_NODEV () { 4 } sub MS_NOEXEC () { 8 } sub MS_BIND () { 4096 } sub MS_REC () { 16384 }
sub MS_PRIVATE () { 1 << 18 } sub MS_RDONLY () { 1 } sub MNT_DETACH () { 2 } sub EINTR () { 4 }
sub PR_SET_CHILD_SUBREAPER () { 36 }
sub AT_FDCWD () { -100 } sub AT_RECURSIVE () { 0x8000 } sub MOUNT_ATTR_RDONLY () { 1 }
sub OPEN_TREE_CLONE () { 1 } sub OPEN_TREE_CLOEXEC () { 0x80000 } sub MOVE_MOUNT_F_EMPTY_PATH () { 4 }

# Each task's pid namespace is entered for one fork and left through this.
open(my $own_pidns, '<', '/proc/self/ns/pid') or die "drover-launcher: /proc/self/ns/pid: $!\n";

# Orphaned namespace inits come to us, so we can report how each ended.
syscall($nr{prctl}, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 or die "drover-launcher: PR_SET_CHILD_SUBREAPER: $!\n";

# SIGCHLD wakes the select loop through a pipe (no lost wake-up between a reap and the select).
pipe(my $wake_r, my $wake_w) or die "drover-launcher: pipe: $!\n";
for my $fh ($wake_r, $wake_w) { fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK) or die "drover-launcher: fcntl: $!\n" }
$SIG{CHLD} = sub { syswrite($wake_w, 'x') };
$SIG{PIPE} = 'IGNORE';

my %launchers;    # pid of an M (user namespace mapper) or of T → 1: reaped silently
my $input = '';

# The template mount namespace (docs/architecture/019-launch-path.md): a tmpfs root holding only
# /r, where an image task attaches its root, and the host's device nodes an image's /dev binds.
# An image task's init enters it before unsharing, so its new mount namespace copies these few
# mounts, not the host's whole tree (hundreds of mounts, plus one overlay per running image task),
# and has no host tree to detach after pivot_root. T, a child, builds it; this descriptor keeps it
# alive after T has gone. Undefined where it cannot be built: image tasks then copy the host's tree.
my $template = make_template();

sub make_template {
  pipe(my $ready_r, my $ready_w) or return undef;
  pipe(my $hold_r, my $hold_w) or return undef;
  my $pid = fork;
  return undef unless defined $pid;
  if ($pid == 0) {
    $SIG{CHLD} = 'DEFAULT';
    close($ready_r);
    close($hold_w);
    my $err = build_template();
    syswrite($ready_w, defined $err ? "$err\n" : "ok\n");
    sysread($hold_r, my $byte, 1);    # EOF once the launcher holds the namespace
    quit(0);
  }
  $launchers{$pid} = 1;
  close($ready_w);
  close($hold_r);
  my $answer = '';
  while ((sysread($ready_r, my $chunk, 512) // 0) > 0) { $answer .= $chunk; last if $answer =~ /\n/ }
  my $ns;
  if ($answer eq "ok\n") {
    open($ns, '<', "/proc/$pid/ns/mnt") or do { print STDERR "drover-launcher: no template mount namespace: /proc/$pid/ns/mnt: $!\n"; undef $ns };
  } else {
    chomp($answer);
    print STDERR "drover-launcher: no template mount namespace: $answer\n";
  }
  close($hold_w);
  close($ready_r);
  return $ns;
}

# T: its own mount namespace, private, whose root becomes a small tmpfs. Returns an error or undef.
sub build_template {
  my ($none, $slash, $dir, $tmpfs, $name, $opts) = ('none', '/', '/tmp', 'tmpfs', 'drover-template', 'mode=755,size=64k');
  syscall($nr{unshare}, CLONE_NEWNS) == 0 or return "unshare: $!";
  syscall($nr{mount}, $none, $slash, 0, MS_REC | MS_PRIVATE, 0) == 0 or return "cannot make the mounts private: $!";
  syscall($nr{mount}, $name, $dir, $tmpfs, MS_NOSUID | MS_NODEV | MS_NOEXEC, $opts) == 0 or return "cannot mount a tmpfs: $!";
  mkdir("$dir/r", 0755) or return "mkdir /r: $!";
  mkdir("$dir/dev", 0755) or return "mkdir /dev: $!";
  my $devices = bind_host_devices("$dir/dev");
  return $devices if defined $devices;
  chdir($dir) or return "chdir: $!";
  my $dot = '.';
  syscall($nr{pivot_root}, $dot, $dot) == 0 or return "pivot_root: $!";
  syscall($nr{umount2}, $dot, MNT_DETACH) == 0 or return "cannot detach the host's tree: $!";
  chdir('/') or return "chdir /: $!";
  return undef;
}

# I, in the host's mount namespace, for the template: detached copies (open_tree) of what an image
# task takes from the host, each a descriptor that survives setns. Returns them or an error.
sub clone_for_template {
  my ($rootfs, $sandbox, $resolv) = @_;
  my %fd;
  my $clone = sub {
    my ($key, $path) = @_;
    my $p = "$path";
    my $fd = syscall($SYS_open_tree, AT_FDCWD, $p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    return "cannot take a copy of $path: $!" if $fd < 0;
    $fd{$key} = $fd;
    return undef;
  };
  my $err = $clone->('root', $rootfs) // $clone->('sandbox', $sandbox);
  return $err if defined $err;
  for my $name (qw(hosts resolv.conf)) {
    my $src = $name eq 'resolv.conf' && $resolv ne '' ? $resolv : "/etc/$name";
    next unless -f $src;
    $err = $clone->($name, $src);
    return $err if defined $err;
  }
  return \%fd;
}

# I, in the task's namespace: attaches a copy from clone_for_template at target, private (a copy
# of a shared mount joins its peer group: nothing mounted under it may reach the host's mount).
sub attach {
  my ($fd, $target) = @_;
  my ($empty, $t, $none) = ('', "$target", 'none');
  syscall($SYS_move_mount, $fd, $empty, AT_FDCWD, $t, MOVE_MOUNT_F_EMPTY_PATH) == 0 or return "move_mount: $!";
  syscall($nr{close}, $fd);
  syscall($nr{mount}, $none, $t, 0, MS_REC | MS_PRIVATE, 0) == 0 or return "cannot make it private: $!";
  return undef;
}

sub reply {
  my ($line) = @_;
  syswrite(STDOUT, "$line\n");
}

sub decode {
  my ($s) = @_;
  $s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
  return $s;
}

sub reap {
  for (;;) {
    my $pid = waitpid(-1, 1);    # WNOHANG
    last if $pid <= 0;
    next if delete $launchers{$pid};
    my $status = $?;
    my ($code, $sig) = ($status & 127) ? (-1, $status & 127) : ($status >> 8, -1);
    reply("E $pid $code $sig");
  }
}

sub mount_op {
  my ($op, @f) = @_;
  my $id = shift @f;
  if ($op eq 'M') {
    my ($cwd, $options, $target) = @f;
    chdir($cwd) or return reply("D $id cannot enter $cwd: $!");
    my ($type, $src) = ('overlay', 'overlay');
    my $ok = syscall($nr{mount}, $src, $target, $type, 0, $options) == 0;
    my $err = "$!";
    chdir('/');
    return reply($ok ? "D $id 0" : "D $id mount overlay at $target: $err");
  }
  my ($target) = @f;
  # Every mount stacked there (EINVAL: no mount left), so "D id 0" means nothing is mounted at target.
  for (1 .. 64) {
    next if syscall($nr{umount2}, $target, MNT_DETACH) == 0;
    return reply($! + 0 == 22 ? "D $id 0" : "D $id umount $target: $!");
  }
  reply("D $id umount $target: still mounted after 64 unmounts");
}

sub launch {
  my ($op, $id, $userns, $rest) = split /\t/, $_[0], 4;
  return unless defined $op;
  if ($op eq 'M' || $op eq 'U') {
    my @f = map { decode($_) } split /\t/, $_[0], -1;
    shift @f;
    return mount_op($op, @f);
  }
  return unless $op eq 'L' && defined $rest;
  # Only what the launcher itself needs is decoded here: the rest of the request is parsed by I,
  # after the fork (what the launcher writes between forks is copied, page by page, once per live
  # task that still shares it).
  ($id, $userns) = (decode($id), decode($userns));
  # With a user namespace, I creates it at the end of its setup and M, a child of ours still root
  # on the host, writes its maps (a process cannot map host ids into its own namespace).
  my @ids;
  if ($userns ne '') {
    @ids = $userns =~ /^(\d+):(\d+):(\d+)$/ or return reply("F $id bad user namespace range '$userns'");
  }
  my ($up_r, $up_w, $down_r, $down_w);
  if (@ids) {
    pipe($up_r, $up_w) or return reply("F $id pipe: $!");
    pipe($down_r, $down_w) or return reply("F $id pipe: $!");
  }
  # I is forked straight into a new pid namespace (its PID 1), then we go back to our own for the
  # children that follow: one fork per task, not two.
  syscall($nr{unshare}, CLONE_NEWPID) == 0 or return reply("F $id unshare: $!");
  my $init = fork;
  my $forkerr = "$!";
  if (!defined $init || $init) {
    syscall($nr{setns}, fileno($own_pidns), CLONE_NEWPID) == 0 or die "drover-launcher: cannot return to its pid namespace: $!\n";
  }
  return reply("F $id fork: $forkerr") unless defined $init;
  if ($init) {
    if (@ids) {
      my $mapper = fork;
      if (defined $mapper && $mapper == 0) {
        $SIG{CHLD} = 'DEFAULT';
        map_user_namespace(\@ids, $init, $up_r, $up_w, $down_r, $down_w);
        quit(0);
      }
      # No mapper: I reads EOF and fails, saying the namespace could not be mapped.
      $launchers{$mapper} = 1 if defined $mapper;
    }
    return;
  }
  # I: nothing below returns.
  $SIG{CHLD} = 'DEFAULT';
  my @f = map { decode($_) } split /\t/, $rest, -1;
  my ($sandbox, $uid, $gid, $privileged) = splice(@f, 0, 4);
  # syscall() passes a value as a number only if Perl holds it as one, else as a string pointer.
  ($uid, $gid, $privileged) = (0 + $uid, 0 + $gid, $privileged eq '1');
  my @groups = map { 0 + $_ } splice(@f, 0, shift @f);
  my @procs = splice(@f, 0, shift @f);
  my $netns = shift @f;
  my ($rootfs, $workdir, $exit_file) = splice(@f, 0, 3);
  my @volumes = splice(@f, 0, shift @f);
  my @argv = splice(@f, 0, shift @f);
  my @env = splice(@f, 0, shift @f);
  my $resolv = @f ? shift @f : '';
  close($wake_r);
  close($wake_w);
  close($own_pidns);
  # The agent's pipe, kept past the redirections below (close-on-exec: the task never has it).
  open(my $agent, '>&', \*STDOUT) or quit(1);
  # Until "S" these fail the launch (an F line; the launcher reaps us and nobody waits for an E).
  my $fail = sub { syswrite($agent, "F $id $_[0]\n"); quit(1) };
  # Our pid as the host sees it: the host's /proc is still our /proc.
  my $hostpid = readlink('/proc/self') or $fail->("cannot read /proc/self: $!");
  # Opened before the new mount namespace exists, so these writers pin the host's mount of the
  # sandbox, not the task's copy that is made read-only-but-the-sandbox below.
  open(STDIN, '<', '/dev/null') or $fail->("/dev/null: $!");
  open(STDOUT, '>>', "$sandbox/stdout") or $fail->("cannot open $sandbox/stdout: $!");
  open(STDERR, '>>', "$sandbox/stderr") or $fail->("cannot open $sandbox/stderr: $!");
  for my $file (@procs) {
    open(my $fh, '>>', $file) or $fail->("cannot join the cgroup $file: $!");
    defined syswrite($fh, "0\n") or $fail->("cannot join the cgroup $file: $!");    # 0: the writer
    close($fh);
  }
  if ($netns ne '') {
    open(my $ns, '<', $netns) or $fail->("cannot open the network namespace $netns: $!");
    syscall($nr{setns}, fileno($ns), CLONE_NEWNET) == 0 or $fail->("setns $netns: $!");
    close($ns);
  }
  # An image task without volumes (their sources are host paths) starts from the template.
  my $copies;
  if (defined $template && $rootfs ne '' && !@volumes) {
    $copies = clone_for_template($rootfs, $sandbox, $resolv);
    $fail->($copies) unless ref $copies;
    syscall($nr{setns}, fileno($template), CLONE_NEWNS) == 0 or $fail->("cannot enter the template mount namespace: $!");
  }
  close($template) if defined $template;
  syscall($nr{unshare}, CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) == 0 or $fail->("unshare: $!");
  syswrite($agent, "S $id $hostpid\n");
  my $userns_pipes = @ids ? do { close($up_r); close($down_w); [$up_w, $down_r] } : undef;
  my $image = $rootfs eq '' ? undef : { rootfs => $rootfs, workdir => $workdir, exit_file => $exit_file, resolv => $resolv, copies => $copies };
  start_task($agent, $id, $sandbox, $uid, $gid, $privileged, \@groups, \@argv, \@env, $userns_pipes, $image, \@volumes, $resolv);
}

# M, for I's user namespace: once I has created it, write its uid and gid maps (M is root in the
# host's namespaces) and answer "1", or "0" if the kernel refused. If I ends first (a failed
# setup), the pipe says EOF and M just leaves.
sub map_user_namespace {
  my ($ids, $init, $up_r, $up_w, $down_r, $down_w) = @_;
  close($up_w);
  close($down_r);
  return unless (sysread($up_r, my $byte, 1) // 0) == 1;
  my ($uid, $gid, $size) = @$ids;
  my $ok = 1;
  for my $map (["uid_map", "0 $uid $size\n"], ["gid_map", "0 $gid $size\n"]) {
    open(my $fh, '>', "/proc/$init/$map->[0]") or do { $ok = 0; last };
    defined syswrite($fh, $map->[1]) or $ok = 0;
    close($fh) or $ok = 0;
    last unless $ok;
  }
  syswrite($down_w, $ok ? '1' : '0');
}

# I, after every mount of its setup (done as host root, so its mount and pid namespaces stay the
# host's): a new user namespace, mapped by M, in which I becomes root (host uid HOSTID) with every
# capability of that namespace only; confine_process then drops them as for any task.
sub enter_user_namespace {
  my ($pipes) = @_;
  my ($up_w, $down_r) = @$pipes;
  syscall($nr{unshare}, CLONE_NEWUSER) == 0 or return "cannot create the user namespace: $!";
  syswrite($up_w, 'x');
  close($up_w);
  my $got = sysread($down_r, my $answer, 1) // 0;
  close($down_r);
  return 'the user namespace could not be mapped' unless $got == 1 && $answer eq '1';
  my $root = pack('L', 0);
  syscall($nr{setgroups}, 1, $root) == 0 or return "setgroups in the user namespace: $!";
  syscall($nr{setresgid}, 0, 0, 0) == 0 or return "setresgid 0 in the user namespace: $!";
  syscall($nr{setresuid}, 0, 0, 0) == 0 or return "setresuid 0 in the user namespace: $!";
  return undef;
}

# I: PID 1 of the task's namespaces, root until the end of its setup.
sub start_task {
  my ($agent, $id, $sandbox, $uid, $gid, $privileged, $groups, $argv, $env, $userns_pipes, $image, $volumes, $resolv) = @_;
  $SIG{TERM} = sub { quit(143) };    # a KILL during setup ends it
  my $fail = sub { print STDERR "drover: $_[0]\n"; quit(125) };
  syscall($nr{setsid}) >= 0 or $fail->("setsid: $!");
  if ($image) {
    my $err = enter_image_root($sandbox, $image, $volumes);
    $fail->($err) if defined $err;
  } else {
    host_view($sandbox, $fail, $volumes, $resolv);
  }
  if (!$privileged) {
    my $err = confine_kernel_files($confine);
    $fail->($err) if defined $err;
  }
  if ($userns_pipes) {
    my $err = enter_user_namespace($userns_pipes);
    $fail->($err) if defined $err;
  }
  my $err = confine_process($confine, $uid, $gid, $groups, $privileged);
  $fail->($err) if defined $err;
  syswrite($agent, "R $id\n");
  close($agent);
  %ENV = map { split /=/, $_, 2 } @$env;
  run_as_init($argv, $image->{exit_file}) if $image;
  # The exec resets TERM, caught here, to its default: no sigaction needed before it.
  exec { $argv->[0] } @$argv;
  print STDERR "drover: cannot run $argv->[0]: $!\n";
  quit(127);
}

# I, without an image: the host's tree, read-only but for the sandbox, /proc and a private /tmp.
sub host_view {
  my ($sandbox, $fail, $volumes, $resolv) = @_;
  my ($none, $root, $proc, $tmp, $shm) = ('none', '/', '/proc', '/tmp', '/dev/shm');
  my ($procfs, $tmpfs, $tmpname, $shmname, $mode) = ('proc', 'tmpfs', 'drover-tmp', 'drover-shm', 'mode=1777');
  my $box = "$sandbox";
  syscall($nr{mount}, $none, $root, 0, MS_REC | MS_PRIVATE, 0) == 0 or $fail->("cannot make the mounts private: $!");
  syscall($nr{mount}, $procfs, $proc, $procfs, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) == 0 or $fail->("cannot mount /proc: $!");
  # Recursive: volumes bind-mounted into the sandbox by the agent (task groups) come along.
  syscall($nr{mount}, $box, $box, 0, MS_BIND | MS_REC, 0) == 0 or $fail->("cannot bind the sandbox: $!");
  my ($set, $clear) = (pack('QQQQ', MOUNT_ATTR_RDONLY, 0, 0, 0), pack('QQQQ', 0, MOUNT_ATTR_RDONLY, 0, 0));
  syscall($SYS_mount_setattr, AT_FDCWD, $root, AT_RECURSIVE, $set, 32) == 0 or $fail->("cannot make / read-only: $!");
  syscall($SYS_mount_setattr, AT_FDCWD, $box, AT_RECURSIVE, $clear, 32) == 0 or $fail->("cannot keep the sandbox writable: $!");
  syscall($SYS_mount_setattr, AT_FDCWD, $proc, 0, $clear, 32) == 0 or $fail->("cannot keep /proc writable: $!");
  if ($resolv ne '') {
    # After / went read-only (the bind copies that flag), before /tmp's tmpfs (it may hide the file).
    my $etc = '/etc/resolv.conf';
    syscall($nr{mount}, $resolv, $etc, 0, MS_BIND, 0) == 0 or $fail->("cannot bind $resolv at /etc/resolv.conf: $!");
  }
  # Volumes land in the sandbox (the agent made their targets relative to it).
  my $err = mount_volumes('', $box, $volumes);
  $fail->($err) if defined $err;
  chdir($box) or $fail->("cannot enter the sandbox: $!");
  syscall($nr{mount}, $tmpname, $tmp, $tmpfs, MS_NOSUID | MS_NODEV, $mode) == 0 or $fail->("cannot mount /tmp: $!");
  if (-d $shm) {
    syscall($nr{mount}, $shmname, $shm, $tmpfs, MS_NOSUID | MS_NODEV, $mode) == 0 or $fail->("cannot mount /dev/shm: $!");
  }
  # A sandbox under /tmp is hidden by the tmpfs; the working directory still holds it.
  if (!-d $box) {
    my $path = '';
    for my $part (grep { $_ ne '' } split m{/}, $box) {
      $path .= "/$part";
      mkdir($path) unless -d $path;
    }
    my $here = '.';
    syscall($nr{mount}, $here, $box, 0, MS_BIND | MS_REC, 0) == 0 or $fail->("cannot bind the sandbox back under /tmp: $!");
  }
  chdir($box) or $fail->("cannot enter the sandbox: $!");
}

# I, with an image: its overlay rootfs (already mounted by the agent, so a mount point) becomes
# the root. Every path below is checked not to be a symlink first: the image is untrusted, and a
# link would make a mount land wherever it points on the host. Returns an error or undef.
# The host's device nodes into the directory $devdir, bound one by one (no mknod: nothing the
# host does not already offer). Undef, or why not.
sub bind_host_devices {
  my ($devdir) = @_;
  for my $name (qw(null zero full random urandom tty)) {
    my ($src, $dst) = ("/dev/$name", "$devdir/$name");
    next unless -e $src;
    open(my $fh, '>', $dst) or return "cannot create /dev/$name: $!";
    close($fh);
    syscall($nr{mount}, $src, $dst, 0, MS_BIND, 0) == 0 or return "cannot bind /dev/$name: $!";
  }
  return undef;
}

sub enter_image_root {
  my ($sandbox, $image, $volumes) = @_;
  my $copies = $image->{copies};
  # From the template, the root is attached at /r (a copy of the agent's overlay mount).
  my $root = $copies ? '/r' : "$image->{rootfs}";
  my ($none, $slash, $procfs, $tmpfs) = ('none', '/', 'proc', 'tmpfs');
  if ($copies) {
    my $err = attach($copies->{root}, $root);
    return "cannot attach the image's root: $err" if defined $err;
  }
  syscall($nr{mount}, $none, $slash, 0, MS_REC | MS_PRIVATE, 0) == 0 or return "cannot make the mounts private: $!";
  for my $dir ('/mnt', '/mnt/mesos', '/mnt/mesos/sandbox', '/proc', '/dev', '/etc') {
    return "the image's $dir is a symbolic link" if -l "$root$dir";
    -d "$root$dir" or mkdir("$root$dir", 0755) or return "cannot create $dir in the image: $!";
  }
  my ($box, $inside) = ("$sandbox", "$root/mnt/mesos/sandbox");
  if ($copies) {
    my $err = attach($copies->{sandbox}, $inside);
    return "cannot bind the sandbox at /mnt/mesos/sandbox: $err" if defined $err;
  } else {
    syscall($nr{mount}, $box, $inside, 0, MS_BIND, 0) == 0 or return "cannot bind the sandbox at /mnt/mesos/sandbox: $!";
  }
  my $proc = "$root/proc";
  syscall($nr{mount}, $procfs, $proc, $procfs, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0) == 0 or return "cannot mount /proc: $!";
  my ($dev, $devname, $devopts) = ("$root/dev", 'drover-dev', 'mode=755,size=1024k');
  syscall($nr{mount}, $devname, $dev, $tmpfs, MS_NOSUID | MS_NOEXEC, $devopts) == 0 or return "cannot mount /dev: $!";
  my $devices = bind_host_devices($dev);
  return $devices if defined $devices;
  symlink("/proc/self/fd", "$dev/fd");
  symlink("/proc/self/fd/$_->[1]", "$dev/$_->[0]") for (['stdin', 0], ['stdout', 1], ['stderr', 2]);
  mkdir("$dev/shm", 01777);
  my ($shm, $shmname, $shmopts) = ("$dev/shm", 'drover-shm', 'mode=1777');
  syscall($nr{mount}, $shmname, $shm, $tmpfs, MS_NOSUID | MS_NODEV, $shmopts) == 0 or return "cannot mount /dev/shm: $!";
  # A private devpts where the kernel allows one (feasible, not required: a task without a tty runs without it).
  mkdir("$dev/pts", 0755);
  my ($pts, $ptsfs, $ptsopts) = ("$dev/pts", 'devpts', 'newinstance,ptmxmode=0666,mode=0620');
  symlink('pts/ptmx', "$dev/ptmx") if syscall($nr{mount}, $ptsfs, $pts, $ptsfs, MS_NOSUID | MS_NOEXEC, $ptsopts) == 0;
  my $ro = pack('QQQQ', MOUNT_ATTR_RDONLY, 0, 0, 0);
  for my $name (qw(hosts resolv.conf)) {
    my ($src, $dst) = ("/etc/$name", "$root/etc/$name");
    $src = $image->{resolv} if $name eq 'resolv.conf' && $image->{resolv} ne '';
    # From the template the host's files are not in sight: their copies were taken before.
    next unless $copies ? defined $copies->{$name} : -f $src;
    unlink($dst) if -l $dst;
    if (!-e $dst) { open(my $fh, '>', $dst) or return "cannot create /etc/$name: $!"; close($fh) }
    return "the image's /etc/$name is not a file" unless -f $dst && !-l $dst;
    if ($copies) {
      my $err = attach($copies->{$name}, $dst);
      return "cannot bind /etc/$name: $err" if defined $err;
    } else {
      syscall($nr{mount}, $src, $dst, 0, MS_BIND, 0) == 0 or return "cannot bind /etc/$name: $!";
    }
    syscall($SYS_mount_setattr, AT_FDCWD, $dst, 0, $ro, 32) == 0 or return "cannot make /etc/$name read-only: $!";
  }
  my $verr = mount_volumes($root, '', $volumes);
  return $verr if defined $verr;
  chdir($root) or return "cannot enter the image's root: $!";
  my $dot = '.';
  syscall($nr{pivot_root}, $dot, $dot) == 0 or return "pivot_root: $!";
  # The host's tree (or the template's tmpfs) is stacked under the new root: detach it, nothing of
  # it stays reachable.
  syscall($nr{umount2}, $dot, MNT_DETACH) == 0 or return "cannot detach the host's tree: $!";
  chdir('/') or return "cannot enter /: $!";
  my $path = '';
  for my $part (grep { $_ ne '' } split m{/}, $image->{workdir}) {
    $path .= "/$part";
    return "the working directory $image->{workdir} crosses a symbolic link" if -l $path;
    mkdir($path, 0755) unless -d $path;
  }
  chdir($image->{workdir}) or return "cannot enter the working directory $image->{workdir}: $!";
  return undef;
}

# I, root, before the task runs: bind each volume's source at $prefix.target, where $prefix.$top
# is a directory known safe and every directory below it on the way is checked not to be a link
# (an image or a fetched archive is untrusted: a link would make the mount land anywhere on the
# host). The target is a directory or a file as the source is. Read-only volumes are made so
# recursively. Returns an error or undef.
sub mount_volumes {
  my ($prefix, $top, $volumes) = @_;
  my @v = @$volumes;
  while (my ($source, $target, $ro) = splice(@v, 0, 3)) {
    return "volume target $target is not under $top" unless $top eq '' || index("$target/", "$top/") == 0;
    my @parts = grep { $_ ne '' && $_ ne '.' } split m{/}, substr($target, length $top);
    return "volume target $target names no path" unless @parts;
    return "volume target $target contains '..'" if grep { $_ eq '..' } @parts;
    my $path = "$prefix$top";
    my $last = pop @parts;
    for my $part (@parts) {
      $path .= "/$part";
      return "volume $target: $path is a symbolic link" if -l $path;
      -d $path or mkdir($path, 0755) or return "volume $target: cannot create $path: $!";
    }
    $path .= "/$last";
    return "volume $target: $path is a symbolic link" if -l $path;
    if (-d $source) {
      -d $path or mkdir($path, 0755) or return "volume $target: cannot create $path: $!";
    } else {
      if (!-e $path) { open(my $fh, '>', $path) or return "volume $target: cannot create $path: $!"; close($fh) }
      return "volume $target: $path is not a file, as its source is" if -d $path;
    }
    my ($src, $dst) = ("$source", "$path");
    syscall($nr{mount}, $src, $dst, 0, MS_BIND | MS_REC, 0) == 0 or return "cannot bind the volume $source at $target: $!";
    # A bind copies its source mount's flags (the host view is read-only): set them as asked.
    my $attr = $ro eq '1' ? pack('QQQQ', MOUNT_ATTR_RDONLY, 0, 0, 0) : pack('QQQQ', 0, MOUNT_ATTR_RDONLY, 0, 0);
    syscall($SYS_mount_setattr, AT_FDCWD, $dst, AT_RECURSIVE, $attr, 32) == 0 or return "cannot make the volume at $target " . ($ro eq '1' ? 'read-only' : 'writable') . ": $!";
  }
  return undef;
}

# I, in an image, confined: the exit-status wrapper's job (exit-status.ts) without a shell. The
# argv runs as I's child; TERM and friends are caught (not ignored, so the child gets them at their
# default), and how the child ended is written to the exit file as a shell would say it (128+N
# for signal N) before I exits with it, ending the namespace.
sub run_as_init {
  my ($argv, $exit_file) = @_;
  $SIG{$_} = sub { } for qw(TERM INT HUP QUIT);
  my $child = fork;
  if (!defined $child) { print STDERR "drover: fork: $!\n"; quit(125) }
  if ($child == 0) {
    # Straight to the exec, which resets these caught signals to their defaults (fewer pages of
    # this process written, each a copy-on-write fault, before the exec discards them).
    exec { $argv->[0] } @$argv;
    print STDERR "drover: cannot run $argv->[0]: $!\n";
    quit(127);
  }
  my $status;
  for (;;) {
    my $pid = waitpid(-1, 0);
    if ($pid == $child) { $status = $?; last }
    next if $pid > 0 || $! + 0 == EINTR;
    $status = 127 << 8;
    last;
  }
  my $code = ($status & 127) ? 128 + ($status & 127) : $status >> 8;
  if (open(my $fh, '>', "$exit_file.tmp")) {
    print $fh "$code\n";
    close($fh) and rename("$exit_file.tmp", $exit_file);
  }
  quit($code);
}

my $rin = '';
vec($rin, fileno(STDIN), 1) = 1;
vec($rin, fileno($wake_r), 1) = 1;
for (;;) {
  reap();
  my $n = select(my $rout = $rin, undef, undef, undef);
  next if $n <= 0;
  if (vec($rout, fileno($wake_r), 1)) {
    my $drain;
    sysread($wake_r, $drain, 4096);
  }
  if (vec($rout, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $input, 65536, length $input);
    next unless defined $got;
    last if $got == 0;
    while ((my $at = index($input, "\n")) >= 0) {
      my $line = substr($input, 0, $at);
      substr($input, 0, $at + 1) = '';
      launch($line);
    }
  }
}
quit(0);
