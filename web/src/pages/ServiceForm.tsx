/**
 * Create a service from a form or from JSON. Both produce one app definition, checked locally with
 * the API's own schema, then POSTed; the server's 422 details land next to the fields they name.
 */
import { useEffect, useMemo, useState } from 'react';
import { ApiError, request, type ErrorDetail } from '../api.ts';
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

const INITIAL: FormState = { id: '', cmd: '', instances: '1', cpus: '0.1', mem: '128', disk: '0', ports: '0', env: '', constraints: '', healthPath: '' };

const number = (s: string): number | string => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);

/** The form as an app definition; values that are not numbers stay strings so the schema says so. */
function toApp(f: FormState): Record<string, unknown> {
  const ports = Number(f.ports);
  const app: Record<string, unknown> = {
    id: f.id.trim(),
    cmd: f.cmd,
    instances: number(f.instances),
    cpus: number(f.cpus),
    mem: number(f.mem),
    disk: number(f.disk),
    portDefinitions: Number.isInteger(ports) && ports >= 0 && ports <= 100 ? Array.from({ length: ports }, () => ({ port: 0 })) : [],
  };
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
  if (f.healthPath.trim() !== '') app['healthChecks'] = [{ protocol: 'MESOS_HTTP', path: f.healthPath.trim(), portIndex: 0 }];
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
  if (head === 'healthChecks') return 'healthPath';
  if (head === 'args' || path === '/') return 'cmd';
  return head in INITIAL ? (head as keyof FormState) : 'general';
}

export function ServiceForm({ onClose }: { onClose: () => void }) {
  const [mode, setMode] = useState<'form' | 'json'>('form');
  const [form, setForm] = useState<FormState>(INITIAL);
  const [json, setJson] = useState('');
  const [errors, setErrors] = useState<ErrorDetail[]>([]);
  const [source, setSource] = useState<'local' | 'server'>('local');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  const byField = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const d of errors) {
      const key = fieldOf(d.path);
      map.set(key, [...(map.get(key) ?? []), ...d.errors.map((e) => (key === 'general' || d.path.split('/').length > 2 ? `${d.path}: ${e}` : e))]);
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
        setErrors(validateApp(parsed));
      });
    }, 300);
    return () => clearTimeout(timer);
  }, [json, mode]);

  const switchTo = (next: 'form' | 'json') => {
    if (next === mode) return;
    if (next === 'json') setJson(JSON.stringify(toApp(form), null, 2));
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
    } else body = toApp(form);
    // Loaded on first use: the schema compiler is most of its weight, and only this form needs it.
    const { validateApp } = await import('../validate.ts');
    const local = validateApp(body);
    if (local.length > 0) {
      setSource('local');
      setMessage('Fix the fields below; nothing was sent.');
      setErrors(local);
      return;
    }
    setBusy(true);
    try {
      const created = await request<{ id: string }>('POST', '/v2/apps', body);
      notify(`Created ${created.id}`);
      hub.invalidate(['apps', 'deployments', 'queue']);
      onClose();
      navigate(`/services${created.id}`);
    } catch (e) {
      setSource('server');
      if (e instanceof ApiError) {
        setMessage(`${e.status}: ${e.message}`);
        setErrors(e.details);
      } else {
        setMessage((e as Error).message);
        setErrors([]);
      }
    } finally {
      setBusy(false);
    }
  };

  const field = (name: keyof FormState, label: string, props: { placeholder?: string; type?: string; hint?: string; textarea?: boolean; mono?: boolean } = {}) => {
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
    <Modal title="Create service" onClose={onClose} wide>
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
            {field('id', 'Service ID', { placeholder: '/prod/web', hint: 'Lowercase letters, digits and dashes; slashes make groups.', mono: true })}
            {field('instances', 'Instances', { type: 'number' })}
            <div className="span2">{field('cmd', 'Command', { placeholder: 'python3 -m http.server $PORT0', textarea: true, mono: true })}</div>
            {field('cpus', 'CPUs', { type: 'number' })}
            {field('mem', 'Memory (MiB)', { type: 'number' })}
            {field('disk', 'Disk (MiB)', { type: 'number' })}
            {field('ports', 'Host ports', { type: 'number', hint: 'How many ports to assign ($PORT0, $PORT1…).' })}
            {field('env', 'Environment', { textarea: true, placeholder: 'KEY=value, one per line', mono: true })}
            {field('constraints', 'Constraints', { textarea: true, placeholder: 'hostname:UNIQUE, one per line', mono: true })}
            {field('healthPath', 'HTTP health check path', { placeholder: '/health (on the first port)', mono: true })}
          </div>
        ) : (
          <div className={`field${errors.length > 0 ? ' invalid' : ''}`}>
            <label htmlFor="app-json">App definition (Marathon JSON)</label>
            <textarea id="app-json" className="mono json-editor" spellCheck={false} rows={18} value={json} onChange={(e) => setJson(e.target.value)} />
          </div>
        )}
        {(mode === 'json' ? errors.length > 0 : general) ? (
          <ul className="error-list" role="alert" data-testid="error-list">
            {(mode === 'json' ? errors.flatMap((d) => d.errors.map((e) => `${d.path}: ${e}`)) : (general ?? [])).map((e) => (
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
          {busy ? 'Creating…' : 'Create service'}
        </button>
      </div>
    </Modal>
  );
}
