/**
 * `drover`: one binary for servers and, later, the cluster CLI. Each command group lives in its
 * own file under src/cli/ and registers itself here.
 */
import yargs from 'yargs';
import { UsageError } from './usage.ts';
import { completeIds } from './completion.ts';
import { addRunCommand, runCommand } from './run.ts';
import { agentCommand } from './agent.ts';
import { devCommand } from './dev.ts';
import { masterCommand } from './master.ts';
import { appCommand } from './app.ts';
import { podCommand } from './pod.ts';
import { deploymentCommand, taskListCommand } from './cluster-commands.ts';
import { nodeCommand } from './node.ts';
import { dnsCommand } from './dns.ts';
import { jobCommand } from './job.ts';
import { imageCommand } from './image.ts';
import { secretCommand } from './secret.ts';
import { caCommand } from './ca.ts';
import { iamCommand, loginCommand } from './iam.ts';
import { loadCaCert, loadCredential } from './credentials.ts';
import { lbCommand } from './lb.ts';
import { quotaCommand, roleCommand } from './quota.ts';
import { packageCommand } from './package.ts';
import { versionCommand } from './version.ts';

export async function main(argv: string[]): Promise<number> {
  await loadCredential();
  await loadCaCert();
  if (argv[0] === 'run' && argv[1] !== '--help' && argv[1] !== '-h') return runCommand(argv.slice(1));
  // `drover completion zsh|bash`: yargs picks the script by $SHELL when it is created, so the
  // shell named here is set first (for this process only) and the word removed.
  if (argv[0] === 'completion' && argv[1] !== undefined && !argv[1].startsWith('-')) {
    if (argv[1] !== 'bash' && argv[1] !== 'zsh') {
      process.stderr.write(`drover: completion scripts are for bash or zsh, not '${argv[1].slice(0, 40)}'\n`);
      return 2;
    }
    process.env['SHELL'] = `/bin/${argv[1]}`;
    argv = [argv[0], ...argv.slice(2)];
  }
  // While the shell asks for completions (on every TAB), usage problems print nothing: the
  // words typed so far are usually an incomplete command, and help text would land in the prompt.
  const completing = argv.includes('--get-yargs-completions');
  let exitCode = 0;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  const parser = yargs(argv)
    .scriptName('drover')
    // `task exec TASK -- CMD…`: what follows `--` is the command, kept apart from our options.
    .parserConfiguration({ 'populate--': true })
    .usage('$0 <command> [options]')
    .command(devCommand((code) => (exitCode = code)))
    .command(masterCommand((code) => (exitCode = code)))
    .command(agentCommand((code) => (exitCode = code)))
    .command(appCommand(setExit))
    .command(podCommand(setExit))
    .command(deploymentCommand(setExit))
    .command(taskListCommand(setExit))
    .command(nodeCommand(setExit))
    .command(quotaCommand(setExit))
    .command(roleCommand(setExit))
    .command(dnsCommand(setExit))
    .command(jobCommand(setExit))
    .command(imageCommand(setExit))
    .command(secretCommand(setExit))
    .command(caCommand(setExit))
    .command(packageCommand(setExit))
    .command(loginCommand(setExit) as never)
    .command(iamCommand(setExit))
    .command(lbCommand(setExit) as never)
    .command(versionCommand() as never)
    .option('master', { type: 'string', global: true, describe: 'Master URL (else $DROVER_MASTER, ~/.drover/config.json, http://127.0.0.1:5050)' })
    .option('json', { type: 'boolean', global: true, describe: 'Print JSON instead of tables' })
    .completion('completion', 'Print a shell completion script: drover completion [bash|zsh]', completeIds as never)
    .demandCommand(1, 'Name a command; see the list above.')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error, y) => {
      // Usage problems (unknown commands, bad flags, failed .check()s) exit 2 with the help;
      // anything a command handler throws is a real failure and propagates.
      if (error && !(error instanceof UsageError) && !message) throw error;
      if (!completing) {
        y.showHelp('error');
        process.stderr.write(`\n${message ?? error?.message ?? 'invalid usage'}\n`);
      }
      // Throwing stops yargs from running the command's handler after a failed check.
      throw new UsageError(message ?? 'invalid usage');
    });
  try {
    await addRunCommand(parser as never).parseAsync();
  } catch (e) {
    if (e instanceof UsageError) return 2;
    throw e;
  }
  return exitCode;
}
