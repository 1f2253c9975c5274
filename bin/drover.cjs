#!/usr/bin/env node
// The `drover` command. CommonJS on purpose: it runs before any ES module is loaded, which is
// the last moment libuv's thread pool size can still be chosen (the ESM loader starts the pool).
// Four threads (the default) are too few for an agent: every checkpoint is an fsync that holds a
// thread for milliseconds, and cgroup and /proc operations queued behind them stalled launches.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('./drover.js').catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
