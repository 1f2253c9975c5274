# The exec wrapper form of confine.pl (which is prepended to this), for the command chain and
# `task exec` (launch-command.ts): perl -e SCRIPT <config…> -- uid gid groups privileged mask -- argv…
# groups is ','-separated; privileged and mask are 0 or 1 (mask: hide and freeze kernel files,
# for a launch — an exec enters a mount namespace where that is already done).
my @args = @ARGV;
my @config;
push @config, shift @args while @args && $args[0] ne '--';
shift @args;
my ($uid, $gid, $groups, $privileged, $mask) = splice(@args, 0, 5);
shift @args;
my $fail = sub { print STDERR "drover: $_[0]\n"; exit 125 };
$fail->('usage: confine <config…> -- uid gid groups privileged mask -- argv…') unless defined $mask && @args;
my $c = confine_config(@config);
if ($mask && !$privileged) {
  my $err = confine_kernel_files($c);
  $fail->($err) if defined $err;
}
my $err = confine_process($c, $uid, $gid, [grep { $_ ne '' } split /,/, $groups], $privileged);
$fail->($err) if defined $err;
{ no warnings 'exec'; exec { $args[0] } @args; }
print STDERR "drover: cannot run $args[0]: $!\n";
exit 127;
