/**
 * `drover ca status|rotate|finish`: the cluster CA's rotation (docs/architecture/018-ca-rotation.md,
 * src/iam/ca-api.ts). `rotate` starts one (a new CA signs; the old one is still trusted and agents
 * move to the new one as they register again); `finish` drops the old CA once no registered
 * agent holds one of its certificates (`--force`: even so).
 */
import type { Argv, CommandModule } from 'yargs';
import type { CaStatus } from '../iam/ca-api.ts';
import { withClient, type ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

function show(json: boolean, status: CaStatus): void {
  print(json, status, () => {
    const rows = [['current', status.current.subject, status.current.hash, status.current.validTo]];
    if (status.previous !== undefined) rows.push(['previous (still trusted)', status.previous.subject, status.previous.hash, status.previous.validTo]);
    const cas = table(['CA', 'SUBJECT', 'HASH', 'VALID TO'], rows);
    const pending = status.agents.pending.map((a) => `${a.id} (${a.hostname})`).join(', ');
    return `${cas}\nagents on the current CA: ${status.agents.onCurrent} of ${status.agents.total}${pending === '' ? '' : `; still on the old one: ${pending}`}\n${
      status.rotating ? 'a rotation is under way: `drover ca finish` drops the old CA once every agent is on the new one\n' : ''
    }`;
  });
}

export function caCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ClientArgs> {
  return {
    command: 'ca <command>',
    describe: 'The cluster CA: its status and rotation',
    builder: (y: Argv<ClientArgs>) =>
      y
        .command<ClientArgs>(
          'status',
          'The CA(s) trusted now, and the agents still on an old one',
          (b) => b,
          (a) => withClient(a, setExit, async (c) => show(a.json === true, await c.get<CaStatus>('/tls/v1/ca'))),
        )
        .command<ClientArgs>(
          'rotate',
          'Start a rotation: a new CA signs agent certificates; the old one stays trusted until `finish`',
          (b) => b,
          (a) => withClient(a, setExit, async (c) => show(a.json === true, await c.request<CaStatus>('POST', '/tls/v1/ca/rotate', {}))),
        )
        .command<ClientArgs & { force?: boolean }>(
          'finish',
          'Finish a rotation: drop the old CA (refused while an agent still holds one of its certificates)',
          (b) => b.option('force', { type: 'boolean', describe: 'Drop it even so: those agents are refused until they join again' }),
          (a) => withClient(a, setExit, async (c) => show(a.json === true, await c.request<CaStatus>('POST', '/tls/v1/ca/finish', { force: a.force === true }))),
        )
        .demandCommand(1),
    handler: () => undefined,
  };
}
