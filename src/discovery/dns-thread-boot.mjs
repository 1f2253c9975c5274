// Worker threads do not inherit the parent's `--import tsx` loader on Node 20: register it here,
// then load the TypeScript body of the DNS thread (the same trick as bin/drover.js).
import { register } from 'tsx/esm/api';

register();
await import('./dns-thread-body.ts');
