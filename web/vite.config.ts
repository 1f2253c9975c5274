// Build: `npm run build:web` (run by `npm ci` through `prepare`, and before `npm test`).
// Dev: `npx vite --config web/vite.config.ts` proxies the APIs to a `drover dev` on :5050.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const master = process.env['DROVER_MASTER'] ?? 'http://127.0.0.1:5050';
const api = ['/v1', '/v2', '/api', '/master', '/agent', '/files', '/ping', '/metrics'];

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { proxy: Object.fromEntries(api.map((p) => [p, { target: master, changeOrigin: true }])) },
});
