# The exec wrapper form of confine.pl (which is prepended to this), for the command chain and
# `task exec` (launch-command.ts): perl -e SCRIPT <config…> -- uid gid groups privileged mask -- argv…
# groups is ','-separated; privileged and mask are 0 or 1 (mask: hide and freeze kernel files,
# for a launch — an exec enters a mount namespace where that is already done).
my @args = @ARGV;
my @config;
push @config, shift @args while @args && $args[0] ne '--';
shift @args;
my @ids;
push @ids, shift @args while @args && $args[0] ne '--';
shift @args;
my ($uid, $gid, $groups, $privileged, $mask, $mntns, $wd) = @ids;
my $fail = sub { print STDERR "drover: $_[0]\n"; exit 125 };
$fail->('usage: confine <config…> -- uid gid groups privileged mask [mntns wd] -- argv…') unless defined $mask && @args;
my $c = confine_config(@config);
# `task exec` into an image: its mount namespace is entered here, by this already-loaded perl,
# because the image has no perl of its own; setns makes the image's root ours.
if (defined $mntns) {
  open(my $ns, '<', $mntns) or $fail->("cannot open the mount namespace $mntns: $!");
  syscall(0 + $c->{setns}, fileno($ns), 0x00020000) == 0 or $fail->("setns $mntns: $!");
  close($ns);
  chdir($wd) or chdir('/') or $fail->("cannot enter $wd: $!");
}
if ($mask && !$privileged) {
  my $err = confine_kernel_files($c);
  $fail->($err) if defined $err;
}
my $err = confine_process($c, $uid, $gid, [grep { $_ ne '' } split /,/, $groups], $privileged);
$fail->($err) if defined $err;
exec { $args[0] } @args;
print STDERR "drover: cannot run $args[0]: $!\n";
exit 127;
