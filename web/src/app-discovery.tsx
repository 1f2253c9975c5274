/**
 * An app's discovery panel (its service page): the DNS names it answers to, its VIPs and its load
 * balancer routes (discovery-info.ts), each name with the addresses the cluster's DNS gives it
 * now (the master's Mesos-DNS HTTP API, `/v1/hosts/{name}`, re-read when tasks change).
 */
import { type DiscoveryApp, discoveryInfo } from './discovery-info.ts';
import { useResource } from './live.ts';

/** The addresses of one name now: `—` while none (no running instance, or no DNS on this master). */
function Addresses({ name }: { name: string }) {
  const { data } = useResource<Array<{ host: string; ip: string }>>(`/v1/hosts/${encodeURIComponent(name)}`, ['tasks']);
  const ips = (data ?? []).map((h) => h.ip).filter((ip) => ip !== '');
  return ips.length === 0 ? <span className="muted">—</span> : <span className="mono">{ips.join(', ')}</span>;
}

/** `app`: the `/v2/apps/{id}` JSON (its labels, port definitions or mappings are read). */
export function AppDiscovery({ app }: { app: { id: string } }) {
  const info = discoveryInfo(app as DiscoveryApp);
  return (
    <section className="panel" aria-label="Discovery" data-testid="app-discovery">
      <h2>Discovery</h2>
      <table className="table compact" aria-label="DNS names">
        <tbody>
          {info.dns.map((n) => (
            <tr key={n.name}>
              <td className="mono">{n.name}</td>
              <td>{n.kind}</td>
              <td className="muted">{n.what}</td>
              <td>{n.kind === 'A' ? <Addresses name={n.name} /> : null}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {info.vips.length > 0 ? (
        <table className="table compact" aria-label="VIPs">
          <tbody>
            {info.vips.map((v) => (
              <tr key={`${v.value}/${v.protocol}`}>
                <td className="mono">{v.name === undefined ? `${v.ip}:${v.port}` : `${v.name}:${v.port}`}</td>
                <td>VIP {v.protocol}</td>
                <td className="muted">{v.value}</td>
                <td>{v.name === undefined ? null : <Addresses name={v.name} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {info.routes.length > 0 ? (
        <table className="table compact" aria-label="Load balancer routes">
          <tbody>
            {info.routes.map((r) => (
              <tr key={r.portIndex}>
                <td className="mono">
                  {[...r.vhosts.map((h) => `${r.redirectToHttps ? 'https' : 'http'}://${h}${r.path ?? ''}`), ...(r.servicePort === undefined ? [] : [`:${r.servicePort}`])].join('  ·  ')}
                </td>
                <td>LB {r.mode}</td>
                <td className="muted">
                  port {r.portIndex}, group {r.group}
                </td>
                <td />
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
