/**
 * Create or edit a service from a form or from JSON. Both produce one app definition, checked
 * locally with the API's own schema and a few cross-field rules (a command using $PORT0 needs a
 * host port; so does an HTTP health check), then POSTed (or PUT, editing); the server's 422
 * details land next to the fields they name, in words (readable-errors.ts).
 *
 * The defaults make an app that runs: one host port (so `$PORT0` is set) and no health check.
 */
import { useEffect, useMemo, useState } from 'react';
import { ApiError, appPath, request, type App, type ErrorDetail } from '../api.ts';
import { fieldName, readable, readableReasons } from '../readable-errors.ts';
import { Modal } from '../components.tsx';
import { hub } from '../live.ts';
import { notify } from '../notify.tsx';
import { navigate } from '../router.tsx';

interface FormState {
  id: string;
  cmd: string;
  instances: string;
  cpus: string;
  mem: string;
  disk: string;
  ports: string;
  env: string;
  constraints: string;
  healthPath: string;
}

const INITIAL: FormState = { id: '', cmd: '', instances: '1', cpus: '0.1', mem: '128', disk: '0', ports: '1', env: '', constraints: '', healthPath: '' };

/** What the API reports about an app but does not take back (and `version`, which a PUT makes anew). */
const REPORTED_ONLY = [
  'version',
  'versionInfo',
  'tasksStaged',
  'tasksRunning',
  'tasksHealthy',
  'tasksUnhealthy',
  'deployments',
  'tasks',
  'lastTaskFailure',
  'taskStats',
  'readinessCheckResults',
  'counts',
];

/** The definition of an existing app, as an edit starts from it. */
export function editableDefinition(app: App): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(app as unknown as Record<string, unknown>) };
  for (const key of REPORTED_ONLY) delete out[key];
  return out;
}

/**
 * Rules between fields the schema cannot state: `$PORTn` and an HTTP health check need host
 * ports. Without them every launch fails (the variable is unset, or the check has no port).
 */
export function crossFieldProblems(app: Record<string, unknown>): ErrorDetail[] {
  const ports = Array.isArray(app['portDefinitions']) ? app['portDefinitions'].length : Array.isArray(app['ports']) ? app['ports'].length : 0;
  const cmd = typeof app['cmd'] === 'string' ? app['cmd'] : '';
  const out: ErrorDetail[] = [];
  let highest = -1;
  for (const m of cmd.matchAll(/\$\{?PORT(\d+)\b/g)) highest = Math.max(highest, Number(m[1]));
  if (highest >= ports) out.push({ path: '/portDefinitions', errors: [`needs at least ${highest + 1}: the command uses $PORT${highest}`] });
  const checks = Array.isArray(app['healthChecks']) ? (app['healthChecks'] as Array<Record<string, unknown>>) : [];
  checks.forEach((check, i) => {
    const protocol = String(check['protocol'] ?? 'HTTP');
    const portIndex = typeof check['portIndex'] === 'number' ? check['portIndex'] : 0;
    if (/HTTP|TCP/.test(protocol) && check['port'] === undefined && portIndex >= ports) {
      out.push({ path: `/healthChecks/${i}`, errors: [`probes host port ${portIndex + 1}, but the service has ${ports}: add a host port or remove the check`] });
    }
  });
  return out;
}

const number = (s: string): number | string => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);

/** The form as an app definition; values that are not numbers stay strings so the schema says so. */
function toApp(f: FormState, base: Record<string, unknown> = {}): Record<string, unknown> {
  const ports = Number(f.ports);
  const app: Record<string, unknown> = {
    ...base,
    id: f.id.trim(),
    cmd: f.cmd,
    instances: number(f.instances),
    cpus: number(f.cpus),
    mem: number(f.mem),
    disk: number(f.disk),
    // An edit keeps its port definitions (names, fixed ports) while their number is unchanged.
    portDefinitions:
      Array.isArray(base['portDefinitions']) && base['portDefinitions'].length === ports
        ? base['portDefinitions']
        : Number.isInteger(ports) && ports >= 0 && ports <= 100
          ? Array.from({ length: ports }, () => ({ port: 0 }))
          : [],
  };
  delete app['env'];
  delete app['constraints'];
  delete app['healthChecks'];
  delete app['ports'];
  const env = Object.fromEntries(
    f.env
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => [l.slice(0, l.includes('=') ? l.indexOf('=') : l.length), l.includes('=') ? l.slice(l.indexOf('=') + 1) : '']),
  );
  if (Object.keys(env).length > 0) app['env'] = env;
  const constraints = f.constraints
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.split(':'));
  if (constraints.length > 0) app['constraints'] = constraints;
  const baseChecks = Array.isArray(base['healthChecks']) ? (base['healthChecks'] as Array<Record<string, unknown>>) : [];
  if (f.healthPath.trim() !== '') {
    // An edit that keeps the path keeps the whole check (its intervals and grace period).
    const same = baseChecks[0]?.['path'] === f.healthPath.trim();
    app['healthChecks'] = same ? baseChecks : [{ protocol: 'MESOS_HTTP', path: f.healthPath.trim(), portIndex: 0 }, ...baseChecks.slice(1)];
  } else if (baseChecks.length > 0 && typeof baseChecks[0]?.['path'] !== 'string') app['healthChecks'] = baseChecks;
  return app;
}

/** The form fields of an app definition (the rest only lives in the JSON editor). */
function fromApp(app: Record<string, unknown>, base: FormState): FormState {
  const str = (v: unknown, fallback: string): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : fallback);
  const env =
    app['env'] && typeof app['env'] === 'object'
      ? Object.entries(app['env'] as Record<string, unknown>)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join('\n')
      : base.env;
  const constraints = Array.isArray(app['constraints']) ? (app['constraints'] as unknown[]).map((c) => (Array.isArray(c) ? c.join(':') : String(c))).join('\n') : base.constraints;
  const health = Array.isArray(app['healthChecks']) ? (app['healthChecks'] as Array<Record<string, unknown>>)[0]?.['path'] : undefined;
  return {
    id: str(app['id'], base.id),
    cmd: str(app['cmd'], base.cmd),
    instances: str(app['instances'], base.instances),
    cpus: str(app['cpus'], base.cpus),
    mem: str(app['mem'], base.mem),
    disk: str(app['disk'], base.disk),
    ports: Array.isArray(app['portDefinitions']) ? String((app['portDefinitions'] as unknown[]).length) : base.ports,
    env,
    constraints,
    healthPath: typeof health === 'string' ? health : base.healthPath,
  };
}

/** Which form field a JSON pointer from the schema or the server belongs to. */
function fieldOf(path: string): keyof FormState | 'general' {
  const head = path.split('/')[1] ?? '';
  if (head === 'portDefinitions' || head === 'ports') return 'ports';
  if (head === 'container' || head === 'labels' || head === 'secrets') return 'general';
  if (head === 'healthChecks') return 'healthPath';
  if (head === 'args' || path === '/') return 'cmd';
  return head in INITIAL ? (head as keyof FormState) : 'general';
}

export function ServiceForm({ onClose, existing }: { onClose: () => void; existing?: App }) {
  const base = useMemo(() => (existing === undefined ? {} : editableDefinition(existing)), [existing]);
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [form, setForm] = useState<FormState>(() => (existing === undefined ? INITIAL : fromApp(base, INITIAL)));
  const [json, setJson] = useState('');
  const [errors, setErrors] = useState<ErrorDetail[]>([]);
  const [source, setSource] = useState<'local' | 'server'>('local');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  const byField = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const d of errors) {
      const key = fieldOf(d.path);
      // At its field: the reason in words ("must be at least 0.001"); elsewhere, field and reason.
      map.set(key, [...(map.get(key) ?? []), ...(key === 'general' || d.path.split('/').length > 2 ? readable(d) : readableReasons(d))]);
    }
    return map;
  }, [errors]);

  // The JSON editor is checked as one types (a moment after the last key), with the API's schema.
  useEffect(() => {
    if (mode !== 'json') return;
    const timer = setTimeout(() => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(json);
      } catch (e) {
        setSource('local');
        setMessage('');
        setErrors(json.trim() === '' ? [] : [{ path: '/', errors: [`not valid JSON: ${(e as Error).message}`] }]);
        return;
      }
      void import('../validate.ts').then(({ validateApp }) => {
        setSource('local');
        setMessage('');
        const schema = validateApp(parsed);
        setErrors(schema.length > 0 ? schema : crossFieldProblems(parsed as Record<string, unknown>));
      });
    }, 300);
    return () => clearTimeout(timer);
  }, [json, mode]);

  const switchTo = (next: 'form' | 'json') => {
    if (next === mode) return;
    if (next === 'json') setJson(JSON.stringify(toApp(form, base), null, 2));
    else {
      // Back to the form: carry over what the JSON says, where the form has a field for it.
      try {
        setForm(fromApp(JSON.parse(json) as Record<string, unknown>, form));
      } catch {
        // Not JSON (yet): the form keeps its own values.
      }
    }
    setErrors([]);
    setMessage('');
    setMode(next);
  };

  const submit = async () => {
    let body: unknown;
    if (mode === 'json') {
      try {
        body = JSON.parse(json);
      } catch (e) {
        setSource('local');
        setMessage('');
        setErrors([{ path: '/', errors: [`not valid JSON: ${(e as Error).message}`] }]);
        return;
      }
    } else body = toApp(form, base);
    // Loaded on first use: the schema compiler is most of its weight, and only this form needs it.
    const { validateApp } = await import('../validate.ts');
    const schema = validateApp(body);
    const local = schema.length > 0 ? schema : crossFieldProblems(body as Record<string, unknown>);
    if (local.length > 0) {
      setSource('local');
      setMessage('Fix the fields below; nothing was sent.');
      setErrors(local);
      return;
    }
    setBusy(true);
    try {
      if (existing !== undefined) {
        await request('PUT', appPath(existing.id), body);
        notify(`Saved ${existing.id}: deploying the new version`);
        hub.invalidate(['apps', 'deployments', 'queue']);
        onClose();
        return;
      }
      const created = await request<{ id: string }>('POST', '/v2/apps', body);
      notify(`Created ${created.id}`);
      hub.invalidate(['apps', 'deployments', 'queue']);
      onClose();
      navigate(`/services${created.id}`);
    } catch (e) {
      setSource('server');
      if (e instanceof ApiError) {
        setMessage(`${e.status}: ${e.message}${e.status === 409 ? ' (a deployment is in progress; wait for it or stop it on the service page)' : ''}`);
        setErrors(e.details);
      } else {
        setMessage((e as Error).message);
        setErrors([]);
      }
    } finally {
      setBusy(false);
    }
  };

  const field = (name: keyof FormState, label: string, props: { placeholder?: string; type?: string; hint?: string; textarea?: boolean; mono?: boolean; readOnly?: boolean } = {}) => {
    const problems = byField.get(name);
    const id = `f-${name}`;
    return (
      <div className={`field${problems ? ' invalid' : ''}`}>
        <label htmlFor={id}>{label}</label>
        {props.textarea ? (
          <textarea id={id} className={props.mono ? 'mono' : undefined} rows={3} value={form[name]} placeholder={props.placeholder} onChange={(e) => setForm({ ...form, [name]: e.target.value })} />
        ) : (
          <input
            id={id}
            className={props.mono ? 'mono' : undefined}
            type={props.type ?? 'text'}
            readOnly={props.readOnly}
            value={form[name]}
            placeholder={props.placeholder}
            onChange={(e) => setForm({ ...form, [name]: e.target.value })}
          />
        )}
        {problems ? (
          <div className="field-error" role="alert" data-field={name}>
            {problems.join('; ')}
          </div>
        ) : props.hint ? (
          <div className="hint">{props.hint}</div>
        ) : null}
      </div>
    );
  };

  const general = byField.get('general');
  return (
    <Modal title={existing === undefined ? 'Create service' : `Edit ${existing.id}`} onClose={onClose} wide>
      <div className="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={mode === 'form'} className={mode === 'form' ? 'tab active' : 'tab'} onClick={() => switchTo('form')}>
          Form
        </button>
        <button type="button" role="tab" aria-selected={mode === 'json'} className={mode === 'json' ? 'tab active' : 'tab'} onClick={() => switchTo('json')}>
          JSON
        </button>
      </div>
      <div className="modal-body">
        {message ? (
          <div className={`alert ${source === 'server' ? 'bad' : 'warn'}`} data-testid="form-message">
            {source === 'server' ? 'The server refused the definition — ' : ''}
            {message}
          </div>
        ) : null}
        {mode === 'form' ? (
          <div className="form-grid">
            {field(
              'id',
              'Service ID',
              existing === undefined
                ? { placeholder: '/prod/web', hint: 'Lowercase letters, digits and dashes; slashes make groups.', mono: true }
                : { mono: true, readOnly: true, hint: 'A service keeps its ID.' },
            )}
            {field('instances', 'Instances', { type: 'number' })}
            <div className="span2">{field('cmd', 'Command', { placeholder: 'python3 -m http.server $PORT0', textarea: true, mono: true })}</div>
            {field('cpus', 'CPUs', { type: 'number' })}
            {field('mem', 'Memory (MiB)', { type: 'number' })}
            {field('disk', 'Disk (MiB)', { type: 'number' })}
            {field('ports', 'Host ports', { type: 'number', hint: 'How many ports to assign ($PORT0, $PORT1…).' })}
            {field('env', 'Environment', { textarea: true, placeholder: 'KEY=value, one per line', mono: true })}
            {field('constraints', 'Constraints', { textarea: true, placeholder: 'hostname:UNIQUE, one per line', mono: true })}
            {field('healthPath', 'HTTP health check path', {
              placeholder: '/health (on the first port)',
              mono: true,
              hint: 'Optional. The command must answer HTTP on $PORT0 at this path, or its instances are killed as unhealthy.',
            })}
          </div>
        ) : (
          <div className={`field${errors.length > 0 ? ' invalid' : ''}`}>
            <label htmlFor="app-json">App definition (Marathon JSON)</label>
            <textarea id="app-json" className="mono json-editor" spellCheck={false} rows={18} value={json} onChange={(e) => setJson(e.target.value)} />
          </div>
        )}
        {(mode === 'json' ? errors.length > 0 : general) ? (
          <ul className="error-list" role="alert" data-testid="error-list">
            {(mode === 'json' ? errors.flatMap((d) => readableReasons(d).map((r) => `${fieldName(d.path)} (${d.path}) ${r}`)) : (general ?? [])).map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        ) : null}
      </div>
      <div className="modal-foot">
        <span className="muted">Checked with the API's schema before sending.</span>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
          {existing !== undefined ? (busy ? 'Saving…' : 'Save changes') : busy ? 'Creating…' : 'Create service'}
        </button>
      </div>
    </Modal>
  );
}
