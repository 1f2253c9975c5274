import { StrictMode, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import './styles.css';
import { setTheme, useTheme } from './theme.ts';
import { Link, useLocation } from './router.tsx';
import { hub, useConnection } from './live.ts';
import { Notes } from './notify.tsx';
import { RemovalBanner } from './removal-banner.tsx';
import { Overview } from './pages/Overview.tsx';
import { Services } from './pages/Services.tsx';
import { ServiceDetail } from './pages/ServiceDetail.tsx';
import { Tasks } from './pages/Tasks.tsx';
import { Jobs } from './pages/Jobs.tsx';
import { Nodes } from './pages/Nodes.tsx';
import { NodeDetail } from './pages/NodeDetail.tsx';
import { Catalog } from './pages/Catalog.tsx';
import { Login, loggedIn } from './pages/Login.tsx';

const NAV = [
  { to: '/', label: 'Overview' },
  { to: '/services', label: 'Services' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/nodes', label: 'Nodes' },
  { to: '/catalog', label: 'Catalog' },
];

function Page() {
  const { path } = useLocation();
  if (path === '/' || path === '/overview') return <Overview />;
  if (path === '/services') return <Services />;
  if (path.startsWith('/services/')) return <ServiceDetail id={decodeURIComponent(path.slice('/services'.length))} />;
  if (path === '/tasks') return <Tasks />;
  if (path === '/jobs' || path.startsWith('/jobs/')) return <Jobs selected={path.startsWith('/jobs/') ? decodeURIComponent(path.slice(6)) : undefined} />;
  if (path === '/nodes') return <Nodes />;
  if (path.startsWith('/nodes/')) return <NodeDetail id={decodeURIComponent(path.slice('/nodes/'.length))} />;
  if (path === '/catalog' || path.startsWith('/catalog/')) return <Catalog selected={path.startsWith('/catalog/') ? decodeURIComponent(path.slice('/catalog/'.length)) : undefined} />;
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/">Back to the overview</Link>
      </p>
    </div>
  );
}

function Shell() {
  const { path } = useLocation();
  const connection = useConnection();
  const theme = useTheme();
  const active = (to: string) => (to === '/' ? path === '/' || path === '/overview' : path === to || path.startsWith(`${to}/`));
  const current = NAV.find((n) => active(n.to));
  useEffect(() => {
    const detail = path.startsWith('/services/') ? decodeURIComponent(path.slice('/services'.length)) : path.startsWith('/jobs/') ? decodeURIComponent(path.slice('/jobs/'.length)) : undefined;
    document.title = [detail, current?.label, 'Drover'].filter(Boolean).join(' · ');
  }, [path, current]);
  return (
    <div className="shell">
      <nav className="side" aria-label="Main">
        <div className="brand">
          <span className="logo">D</span> Drover
        </div>
        {NAV.map((n) => (
          <Link key={n.to} to={n.to} className={active(n.to) ? 'nav active' : 'nav'}>
            {n.label}
          </Link>
        ))}
        <div className="side-foot">
          <button
            type="button"
            className="small theme-toggle"
            aria-label={theme === 'dark' ? 'Use the light theme' : 'Use the dark theme'}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
          <span
            className={`conn ${connection}`}
            data-testid="connection"
            title={connection === 'live' ? 'Event streams connected; changes appear as they happen' : 'Event streams down; polling every 3 s and reconnecting'}
          >
            <span className="dot" /> {connection === 'live' ? 'Live' : connection === 'offline' ? 'Reconnecting…' : 'Connecting…'}
          </span>
        </div>
      </nav>
      <main className="main">
        <RemovalBanner />
        <Page />
      </main>
      <Notes />
    </div>
  );
}

const root = createRoot(document.getElementById('root')!);
// Auth is on by default: without a session, the login page first (it reloads into the UI).
void loggedIn().then((yes) => {
  if (yes) hub.start();
  root.render(<StrictMode>{yes ? <Shell /> : <Login onDone={() => window.location.reload()} />}</StrictMode>);
});
