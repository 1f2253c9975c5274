/**
 * `drover lb` in one call: HAProxy driven by the event stream, and the admin endpoints beside it.
 */
import type { Server } from 'node:http';
import { startAdminServer } from './admin.ts';
import { LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';

export { LoadBalancer, type LoadBalancerOptions } from './load-balancer.ts';

export interface RunningLb {
  lb: LoadBalancer;
  adminUrl: string;
  close(): Promise<void>;
}

export async function startLb(options: LoadBalancerOptions & { adminHost: string; adminPort: number }): Promise<RunningLb> {
  const lb = await LoadBalancer.start(options);
  let admin: { server: Server; url: string };
  try {
    admin = await startAdminServer(lb, options.adminHost, options.adminPort);
  } catch (e) {
    await lb.close();
    throw e;
  }
  return {
    lb,
    adminUrl: admin.url,
    async close() {
      admin.server.closeAllConnections();
      await new Promise<void>((resolve) => admin.server.close(() => resolve()));
      await lb.close();
    },
  };
}
