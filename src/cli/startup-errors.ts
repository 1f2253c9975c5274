/**
 * The failures a server command meets before it runs that are the operator's to fix — a port in
 * use, a data dir it may not write, a data dir another Drover holds — as one sentence with the
 * fix, instead of a stack trace. Anything else is a bug and keeps its stack.
 */

export interface StartupContext {
  command: string;
  dataDir?: string;
  /** Which flag set which port, to name the one to change. */
  ports: Array<{ flag: string; port: number | undefined }>;
}

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  port?: unknown;
  address?: unknown;
  path?: unknown;
  syscall?: unknown;
  cause?: unknown;
}

/** The sentence for a failure the operator can fix, or undefined for anything else. */
export function startupProblem(error: unknown, context: StartupContext): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as ErrorLike;
  const message = typeof e.message === 'string' ? e.message : '';
  const cause = (e.cause ?? {}) as ErrorLike;
  if (e.code === 'EADDRINUSE' || cause.code === 'EADDRINUSE') {
    const at = e.code === 'EADDRINUSE' ? e : cause;
    const port = typeof at.port === 'number' ? at.port : undefined;
    const flag = context.ports.find((p) => p.port === port)?.flag;
    const where = `${typeof at.address === 'string' ? at.address : ''}:${port ?? '?'}`;
    return (
      `port ${where} is already in use (another drover dev, or another server: \`ss -ltnp 'sport = :${port ?? ''}'\` shows which).\n` +
      `  Stop it, or ${flag ? `choose another port with ${flag} N` : 'choose other ports'} (${flag ?? '--port'} 0 takes a free one).`
    );
  }
  if (e.code === 'EADDRNOTAVAIL' || cause.code === 'EADDRNOTAVAIL') {
    return 'the address to listen on is not one of this machine’s: choose one it has with --host (127.0.0.1 for this machine only).';
  }
  if (e.code === 'DROVER_ERR_STORE_UNAVAILABLE' && /locked|busy/i.test(`${message} ${String(cause.message ?? '')}`)) {
    return (
      `the data dir ${context.dataDir ?? ''} is in use: another drover holds its store (database is locked).\n` +
      `  Stop that one (it is the process with ${context.dataDir ?? 'the data dir'}/store.db open: \`fuser -v ${context.dataDir ?? '.'}/store.db\`), or give this one another --data-dir.`
    );
  }
  const fsCode = ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOSPC'].find((c) => c === e.code || c === cause.code);
  if (fsCode !== undefined) {
    const at = e.code === fsCode ? e : cause;
    const path = typeof at.path === 'string' ? at.path : (context.dataDir ?? '');
    const why =
      fsCode === 'ENOSPC' ? 'the disk is full' : fsCode === 'EROFS' ? 'the file system is read-only' : fsCode === 'ENOTDIR' ? 'a part of the path is a file, not a folder' : 'permission denied';
    return (
      `cannot write ${path} (${why}, ${fsCode}${typeof at.syscall === 'string' ? ` on ${at.syscall}` : ''}).\n` +
      `  Give ${context.command} a folder it can write with --data-dir DIR${fsCode === 'EPERM' || fsCode === 'EACCES' ? ', or fix the folder’s owner and mode (and `lsattr -d` for the immutable flag)' : ''}.`
    );
  }
  return undefined;
}

/**
 * Makes sure `dir` exists and can be written, before anything starts: throws the file system's own
 * error for it (node's recursive mkdir reports ENOENT on a read-only parent; the real reason is
 * found by creating the first missing folder alone).
 */
export async function checkWritableDir(dir: string): Promise<void> {
  const { mkdir, open, rm, stat } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    let missing = dir;
    while (
      dirname(missing) !== missing &&
      !(await stat(dirname(missing)).then(
        () => true,
        () => false,
      ))
    )
      missing = dirname(missing);
    await mkdir(missing);
    throw e;
  }
  const probe = join(dir, `.drover-write-check-${process.pid}`);
  try {
    await (await open(probe, 'w')).close();
  } catch (e) {
    // Named by the folder the operator gave, not the probe's file.
    throw Object.assign(e as Error, { path: dir });
  }
  await rm(probe, { force: true });
}
