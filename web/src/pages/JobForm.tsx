/**
 * Create a job (Metronome's job spec, `POST /v1/jobs`) and optionally its schedule
 * (`POST /v1/jobs/{id}/schedules`). The server validates; its 422 details land at the fields.
 */
import { useState } from 'react';
import { ApiError, jobPath, request, type ErrorDetail } from '../api.ts';
import { Modal } from '../components.tsx';
import { hub } from '../live.ts';
import { notify } from '../notify.tsx';
import { navigate } from '../router.tsx';

interface FormState {
  id: string;
  description: string;
  cmd: string;
  cpus: string;
  mem: string;
  disk: string;
  cron: string;
  timezone: string;
}

const INITIAL: FormState = { id: '', description: '', cmd: '', cpus: '0.1', mem: '32', disk: '0', cron: '', timezone: 'UTC' };
const number = (s: string): number | string => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);

/** Which field a detail's path names: `/run/cpus` → cpus, `/cron` of the schedule → cron. */
function fieldOf(path: string, schedule: boolean): keyof FormState | 'general' {
  const last = path.split('/').filter(Boolean).pop() ?? '';
  if (schedule) return last === 'timezone' ? 'timezone' : last === 'cron' || last === '' ? 'cron' : 'general';
  return last in INITIAL && last !== 'cron' && last !== 'timezone' ? (last as keyof FormState) : 'general';
}

export function JobForm({ onClose }: { onClose: () => void }) {
  const [form, setForm] = useState<FormState>(INITIAL);
  const [errors, setErrors] = useState<Map<string, string[]>>(new Map());
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);

  const show = (e: unknown, schedule: boolean) => {
    const map = new Map<string, string[]>();
    if (e instanceof ApiError) {
      for (const d of e.details as ErrorDetail[]) {
        const key = fieldOf(d.path, schedule);
        map.set(key, [...(map.get(key) ?? []), ...d.errors.map((x) => (key === 'general' ? `${d.path}: ${x}` : x))]);
      }
      setMessage(`${schedule ? 'The job was created, but its schedule was refused' : 'The server refused the job'} — ${e.status}: ${e.message}`);
    } else setMessage(String(e));
    setErrors(map);
  };

  const submit = async () => {
    setBusy(true);
    const id = form.id.trim();
    try {
      try {
        await request('POST', '/v1/jobs', {
          id,
          ...(form.description ? { description: form.description } : {}),
          run: { cmd: form.cmd, cpus: number(form.cpus), mem: number(form.mem), disk: number(form.disk) },
        });
      } catch (e) {
        show(e, false);
        return;
      }
      if (form.cron.trim() !== '') {
        try {
          await request('POST', `${jobPath(id)}/schedules`, { id: 'default', cron: form.cron.trim(), timezone: form.timezone.trim() || 'UTC', enabled: true });
        } catch (e) {
          show(e, true);
          hub.invalidate(['jobs']);
          return;
        }
      }
      notify(`Created job ${id}`);
      hub.invalidate(['jobs']);
      onClose();
      navigate(`/jobs/${encodeURIComponent(id)}`);
    } finally {
      setBusy(false);
    }
  };

  const field = (name: keyof FormState, label: string, opts: { placeholder?: string; hint?: string; type?: string; span?: boolean } = {}) => {
    const problems = errors.get(name);
    return (
      <div className={`field${problems ? ' invalid' : ''}${opts.span ? ' span2' : ''}`}>
        <label htmlFor={`job-${name}`}>{label}</label>
        <input
          id={`job-${name}`}
          type={opts.type ?? 'text'}
          className={name === 'cmd' || name === 'id' || name === 'cron' ? 'mono' : undefined}
          value={form[name]}
          placeholder={opts.placeholder}
          onChange={(e) => setForm({ ...form, [name]: e.target.value })}
        />
        {problems ? (
          <div className="field-error" role="alert" data-field={`job-${name}`}>
            {problems.join('; ')}
          </div>
        ) : opts.hint ? (
          <div className="hint">{opts.hint}</div>
        ) : null}
      </div>
    );
  };

  const general = errors.get('general');
  return (
    <Modal title="Create job" onClose={onClose} wide>
      <div className="modal-body">
        {message ? (
          <div className="alert bad" data-testid="job-form-message">
            {message}
          </div>
        ) : null}
        <div className="form-grid">
          {field('id', 'Job ID', { placeholder: 'reports.nightly', hint: 'Lowercase segments separated by dots.' })}
          {field('description', 'Description')}
          {field('cmd', 'Command', { placeholder: './report.sh --since yesterday', span: true })}
          {field('cpus', 'CPUs', { type: 'number' })}
          {field('mem', 'Memory (MiB)', { type: 'number' })}
          {field('disk', 'Disk (MiB)', { type: 'number' })}
          <div />
          {field('cron', 'Schedule (cron)', { placeholder: '0 3 * * *', hint: 'Empty: run only on demand.' })}
          {field('timezone', 'Time zone', { placeholder: 'UTC' })}
        </div>
        {general ? (
          <ul className="error-list" role="alert">
            {general.map((g) => (
              <li key={g}>{g}</li>
            ))}
          </ul>
        ) : null}
      </div>
      <div className="modal-foot">
        <span className="muted">Metronome job spec, checked by the server.</span>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
          {busy ? 'Creating…' : 'Create job'}
        </button>
      </div>
    </Modal>
  );
}
