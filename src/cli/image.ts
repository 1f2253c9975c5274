/**
 * `drover image list|pull|rm|prune`: the image store of one agent, through its HTTP API
 * (`/images`, src/agent/http/image-routes.ts). The agent is `--agent URL`, else $DROVER_AGENT,
 * else http://127.0.0.1:5051.
 */
import { readFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { Client, CliError } from './client.ts';
import type { ClientArgs } from './run-command.ts';
import { print, table } from './table.ts';

type ImageArgs = ClientArgs & { agent?: string };

interface ImageJson {
  reference: string;
  manifestDigest: string;
  layers: string[];
  bytes: number;
  holders: number;
  lastUsedAt: number;
}

function agentUrl(flag: string | undefined): string {
  return (flag ?? process.env['DROVER_AGENT'] ?? 'http://127.0.0.1:5051').replace(/\/$/, '');
}

async function withAgent(args: ImageArgs, setExit: (code: number) => void, run: (agent: Client) => Promise<void>): Promise<void> {
  try {
    await run(new Client(agentUrl(args.agent)));
  } catch (e) {
    process.stderr.write(`drover: ${e instanceof Error ? e.message : String(e)}\n`);
    setExit(e instanceof CliError ? e.exitCode : 1);
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function imageCommand(setExit: (code: number) => void): CommandModule<ClientArgs, ImageArgs> {
  const image = (y: Argv<ImageArgs>) => y.positional('image', { type: 'string', demandOption: true, describe: 'Image reference, e.g. registry:5000/team/app:1.2' });
  return {
    command: 'image <command>',
    describe: 'Container images stored on an agent',
    builder: (y: Argv<ClientArgs>) =>
      y
        .option('agent', { type: 'string', describe: 'Agent URL (else $DROVER_AGENT, else http://127.0.0.1:5051)' })
        .command(
          'list',
          'List the images stored on the agent',
          (b) => b,
          (a) =>
            withAgent(a, setExit, async (c) => {
              const { images } = await c.get<{ images: ImageJson[] }>('/images');
              print(a.json === true, images, () =>
                table(
                  ['IMAGE', 'DIGEST', 'LAYERS', 'SIZE', 'TASKS'],
                  images.map((i) => [i.reference, i.manifestDigest.slice(0, 19), i.layers.length, megabytes(i.bytes), i.holders]),
                ),
              );
            }),
        )
        .command<ImageArgs & { image: string; force?: boolean; 'auth-file'?: string }>(
          'pull <image>',
          'Pull an image into the agent (from the store when already there, unless --force)',
          (b) =>
            image(b)
              .option('force', { type: 'boolean', describe: 'Ask the registry even when the image is stored' })
              .option('auth-file', { type: 'string', describe: 'A Docker config.json with credentials for the registry' }),
          (a) =>
            withAgent(a, setExit, async (c) => {
              let dockerConfig: unknown;
              if (a['auth-file'] !== undefined) {
                try {
                  dockerConfig = JSON.parse(await readFile(a['auth-file'], 'utf8'));
                } catch (e) {
                  throw new CliError(`cannot read ${a['auth-file']}: ${(e as Error).message}`, 2);
                }
              }
              const pulled = await c.request<ImageJson>('POST', '/images/pull', {
                image: a.image,
                ...(a.force === true ? { force: true } : {}),
                ...(dockerConfig === undefined ? {} : { dockerConfig }),
              });
              print(a.json === true, pulled, () => `${pulled.reference} ${pulled.manifestDigest} (${pulled.layers.length} layers)\n`);
            }),
        )
        .command<ImageArgs & { image: string }>('rm <image>', 'Remove an image no task uses (and the layers only it used)', image, (a) =>
          withAgent(a, setExit, async (c) => {
            await c.request('DELETE', `/images?image=${encodeURIComponent(a.image)}`);
            process.stderr.write(`removed ${a.image}\n`);
          }),
        )
        .command<ImageArgs & { 'max-age'?: number; 'max-bytes'?: number }>(
          'prune',
          "Image GC now: with no limits, the agent's own (--image-gc-max-age, --image-gc-max-bytes)",
          (b) =>
            b
              .option('max-age', { type: 'number', describe: 'Remove images unused for this many seconds' })
              .option('max-bytes', { type: 'number', describe: 'Remove LRU images while layers exceed this' }),
          (a) =>
            withAgent(a, setExit, async (c) => {
              const body = { ...(a['max-age'] === undefined ? {} : { maxAgeSeconds: a['max-age'] }), ...(a['max-bytes'] === undefined ? {} : { maxBytes: a['max-bytes'] }) };
              const { removed } = await c.request<{ removed: string[] }>('POST', '/images/prune', body);
              print(a.json === true, removed, () => (removed.length === 0 ? 'nothing to remove\n' : `${removed.join('\n')}\n`));
            }),
        )
        .demandCommand(1, 'Name an image command.'),
    handler: () => undefined,
  } as CommandModule<ClientArgs, ImageArgs>;
}
