/**
 * `drover`: one binary for servers and, later, the cluster CLI. Each command group lives in its
 * own file under src/cli/ and registers itself here.
 */
import yargs from 'yargs';
import { devCommand } from './dev.ts';
import { masterCommand } from './master.ts';

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const parser = yargs(argv)
    .scriptName('drover')
    .usage('$0 <command> [options]')
    .command(devCommand((code) => (exitCode = code)))
    .command(masterCommand((code) => (exitCode = code)))
    .demandCommand(1, 'Name a command; see the list above.')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, error, y) => {
      if (error) throw error;
      y.showHelp('error');
      process.stderr.write(`\n${message}\n`);
      exitCode = 2;
    });
  await parser.parseAsync();
  return exitCode;
}
