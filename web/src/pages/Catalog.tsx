/**
 * The package catalog: the repositories' packages (Cosmos' /package/search), and for one package
 * a form generated from its options schema, validated in the browser with the master's own rules
 * (catalog-form.ts) before `/package/install`; the master's answer (its notes, or its errors at
 * the fields they name) is shown in place.
 */
import { useEffect, useMemo, useState } from 'react';
import { changes, defaultsOf, type Field, fieldsOf, type Json, type JsonObject, merge, validate, valueAt, withValue } from '../catalog-form.ts';
import { ErrorBox, PageHead } from '../components.tsx';
import { Link } from '../router.tsx';

interface Summary {
  name: string;
  currentVersion: string;
  description: string;
  framework: boolean;
  selected: boolean;
  tags: string[];
}

interface Described {
  name: string;
  version: string;
  description: string;
  preInstallNotes?: string;
  config?: unknown;
}

interface CosmosFailure {
  type?: string;
  message?: string;
  data?: { errors?: Array<{ instance?: { pointer?: string }; message?: string }>; marathon?: { details?: Array<{ path: string; errors: string[] }> } };
}

class CosmosError extends Error {
  constructor(readonly body: CosmosFailure) {
    super(body.message ?? 'The request failed');
  }
}

const media = (kind: string, version: string): string => `application/vnd.dcos.${kind}+json;charset=utf-8;version=${version}`;

async function cosmos<T>(path: string, kind: string, body: unknown, version = 'v1'): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: { 'content-type': media(`${kind}-request`, 'v1'), accept: media(`${kind}-response`, version) }, body: JSON.stringify(body) });
  const text = await response.text();
  const parsed = text === '' ? {} : (JSON.parse(text) as unknown);
  if (!response.ok) throw new CosmosError(parsed as CosmosFailure);
  return parsed as T;
}

export function Catalog({ selected }: { selected: string | undefined }) {
  const [packages, setPackages] = useState<Summary[] | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [query, setQuery] = useState('');
  useEffect(() => {
    cosmos<{ packages: Summary[] }>('/package/search', 'package.search', {})
      .then((r) => setPackages(r.packages))
      .catch((e: Error) => setError(e));
  }, []);
  if (selected !== undefined) return <PackageInstall name={selected} />;
  const shown = (packages ?? []).filter((p) => query === '' || `${p.name} ${p.description} ${p.tags.join(' ')}`.toLowerCase().includes(query.toLowerCase()));
  return (
    <div className="page">
      <PageHead title="Catalog" sub={<span>Packages of the repositories (Universe format): install one as a service.</span>}>
        <input type="search" placeholder="Search packages" aria-label="Search packages" value={query} onChange={(e) => setQuery(e.target.value)} />
      </PageHead>
      <ErrorBox error={error} />
      {packages === undefined && error === undefined ? <p>Loading…</p> : null}
      <div className="cards">
        {shown.map((p) => (
          <Link key={p.name} to={`/catalog/${encodeURIComponent(p.name)}`} className="card" title={p.description}>
            <h3>{p.name}</h3>
            <div className="sub">
              {p.currentVersion}
              {p.framework ? ' · framework' : ''}
            </div>
            <p className="hint">{p.description.length > 140 ? `${p.description.slice(0, 137)}…` : p.description}</p>
          </Link>
        ))}
      </div>
    </div>
  );
}

function PackageInstall({ name }: { name: string }) {
  const [pkg, setPkg] = useState<Described | undefined>();
  const [loadError, setLoadError] = useState<Error | undefined>();
  const [values, setValues] = useState<JsonObject>({});
  const [raw, setRaw] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Map<string, string[]>>(new Map());
  const [serverError, setServerError] = useState<string | undefined>();
  const [done, setDone] = useState<{ appId: string; notes?: string } | undefined>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    cosmos<{ package: Described }>('/package/describe', 'package.describe', { packageName: name }, 'v3')
      .then((r) => {
        setPkg(r.package);
        setValues(defaultsOf(r.package.config));
      })
      .catch((e: Error) => setLoadError(e));
  }, [name]);
  const defaults = useMemo(() => defaultsOf(pkg?.config), [pkg]);
  const groups = useMemo(() => fieldsOf(pkg?.config), [pkg]);

  const set = (f: Field, text: string, checked?: boolean) => {
    setRaw((r) => ({ ...r, [f.pointer]: text }));
    let value: Json | undefined;
    if (f.kind === 'boolean') value = checked === true;
    else if (f.kind === 'number' || f.kind === 'integer') value = text.trim() === '' ? undefined : Number.isFinite(Number(text)) ? Number(text) : text;
    else if (f.kind === 'json') {
      try {
        value = text.trim() === '' ? undefined : (JSON.parse(text) as Json);
      } catch {
        value = text;
      }
    } else value = text;
    setValues((v) => withValue(v, f.path, value));
  };

  const install = async () => {
    if (pkg === undefined) return;
    setServerError(undefined);
    const found = validate(pkg.config, merge(defaults, values));
    setErrors(found);
    if (found.size > 0) return;
    setBusy(true);
    try {
      const options = changes(values, defaults);
      const r = await cosmos<{ appId: string; postInstallNotes?: string }>(
        '/package/install',
        'package.install',
        { packageName: pkg.name, packageVersion: pkg.version, ...(Object.keys(options).length > 0 ? { options } : {}) },
        'v2',
      );
      setDone({ appId: r.appId, ...(r.postInstallNotes ? { notes: r.postInstallNotes } : {}) });
    } catch (e) {
      const body = e instanceof CosmosError ? e.body : { message: (e as Error).message };
      const byField = new Map<string, string[]>();
      for (const x of body.data?.errors ?? []) if (x.instance?.pointer !== undefined) byField.set(x.instance.pointer, [...(byField.get(x.instance.pointer) ?? []), x.message ?? '']);
      setErrors(byField);
      const details = (body.data?.marathon?.details ?? []).map((d) => `${d.path}: ${d.errors.join('; ')}`);
      setServerError([`${body.message ?? 'Install failed'}${body.type ? ` (${body.type})` : ''}`, ...details].join('\n'));
    } finally {
      setBusy(false);
    }
  };

  if (loadError)
    return (
      <div className="page">
        <ErrorBox error={loadError} />
      </div>
    );
  if (pkg === undefined)
    return (
      <div className="page">
        <p>Loading…</p>
      </div>
    );
  const shownValue = (f: Field): string => {
    if (raw[f.pointer] !== undefined) return raw[f.pointer] as string;
    const v = valueAt(values, f.path);
    return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  return (
    <div className="page">
      <PageHead title={`${pkg.name} ${pkg.version}`} sub={<Link to="/catalog">All packages</Link>} />
      <p>{pkg.description}</p>
      {pkg.preInstallNotes ? (
        <p className="hint" data-testid="pre-install-notes">
          {pkg.preInstallNotes}
        </p>
      ) : null}
      {done ? (
        <div className="card" data-testid="installed">
          <h3>Installed as {done.appId}</h3>
          {done.notes ? <p>{done.notes}</p> : null}
          <Link to={`/services${done.appId}`}>Open the service</Link>
        </div>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void install();
          }}
        >
          {groups.map((g) => (
            <fieldset key={g.title} className="card">
              <legend>{g.title}</legend>
              {g.description ? <p className="hint">{g.description}</p> : null}
              <div className="form-grid">
                {g.fields.map((f) => {
                  const problems = errors.get(f.pointer);
                  const id = `opt-${f.pointer}`;
                  return (
                    <div key={f.pointer} className={problems ? 'field invalid' : 'field'}>
                      <label htmlFor={id}>
                        {f.label}
                        {f.required ? ' *' : ''}
                      </label>
                      {f.kind === 'boolean' ? (
                        <input id={id} type="checkbox" checked={valueAt(values, f.path) === true} onChange={(e) => set(f, '', e.target.checked)} />
                      ) : (
                        <input
                          id={id}
                          type="text"
                          inputMode={f.kind === 'number' || f.kind === 'integer' ? 'decimal' : undefined}
                          aria-invalid={problems ? true : undefined}
                          value={shownValue(f)}
                          onChange={(e) => set(f, e.target.value)}
                        />
                      )}
                      {f.description ? <span className="hint">{f.description}</span> : null}
                      {problems ? (
                        <span className="field-error" role="alert">
                          {f.pointer}: {problems.join('; ')}
                        </span>
                      ) : null}
                    </div>
                  );
                })}
              </div>
            </fieldset>
          ))}
          {errors.get('/') ? <div className="field-error">{errors.get('/')?.join('; ')}</div> : null}
          {serverError ? (
            <pre className="field-error" data-testid="server-error">
              {serverError}
            </pre>
          ) : null}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Installing…' : `Install ${pkg.name}`}
          </button>
        </form>
      )}
    </div>
  );
}
