/**
 * Secret volumes of a task without an image: the value is written into the sandbox at the
 * volume's path, mode 0400, owned by the task's user — before anything of the task's has run
 * there (the fetcher, the task), so no link of the task's can redirect the write. The agent's files
 * API, which serves sandboxes, never serves these files (`hiddenSecretFiles`), and they are
 * deleted when the task ends (Mesos gets the same by mounting a tmpfs into the container, which
 * goes with it). Nothing here logs a value.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface SecretFile {
  containerPath: string;
  value: Buffer;
}

/** Writes the files. `containerPath`s are checked (secretFilePathProblem) by the caller. */
export async function writeSecretFiles(sandbox: string, files: readonly SecretFile[], owner: { uid: number; gid: number } | undefined): Promise<void> {
  for (const file of files) {
    const target = join(sandbox, file.containerPath);
    await mkdir(dirname(target), { recursive: true });
    const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o400);
    try {
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(file.value);
    } finally {
      await handle.close();
    }
  }
}

export async function removeSecretFiles(sandbox: string, containerPaths: readonly string[]): Promise<void> {
  await Promise.all(containerPaths.map((p) => rm(join(sandbox, p), { force: true })));
}
