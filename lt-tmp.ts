import { TaskLauncher } from './src/agent/containerizer/linux/launcher.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { WRAPPER_SCRIPT } from './src/agent/containerizer/exit-status.ts';
const logger = { warn: console.log, info: () => {}, debug: () => {} } as never;
const l = new TaskLauncher('/usr/bin/perl', logger);
const n = 300; const t0 = performance.now();
const pids: number[] = [];
await Promise.all(Array.from({ length: n }, async (_, i) => {
  const sb = `/tmp/lt/s${i}`; mkdirSync(sb, { recursive: true }); writeFileSync(`${sb}/stdout`, ''); writeFileSync(`${sb}/stderr`, '');
  const t = await l.launch({ sandbox: sb, uid: 0, gid: 0, groups: [], procsFiles: [], argv: ['/bin/sh', '-c', WRAPPER_SCRIPT, 'drover-task', `${sb}/.exit`, '/bin/sh', '-c', 'sleep 600'], env: { PATH: '/usr/bin:/bin' } });
  await t.ready; pids.push(t.pid);
}));
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ n, seconds: s.toFixed(2), perSecond: (n / s).toFixed(1) }));
for (const p of pids) process.kill(p, 'SIGKILL');
l.close();
