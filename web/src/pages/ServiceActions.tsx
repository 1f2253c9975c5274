/** Edit (detail page), scale, restart (confirmed) and destroy (confirmed) one service; used by the list and the detail page. */
import { useState } from 'react';
import { ApiError, appPath, request, type App } from '../api.ts';
import { Modal } from '../components.tsx';
import { hub } from '../live.ts';
import { notify } from '../notify.tsx';
import { navigate } from '../router.tsx';
import { useConfirm } from '../confirm.tsx';
import { ServiceForm } from './ServiceForm.tsx';

const failed = (what: string) => (e: unknown) => notify(`${what} failed: ${e instanceof ApiError ? `${e.status} ${e.message}` : String(e)}`, 'bad');

export function ServiceActions({ app, compact }: { app: App; compact?: boolean }) {
  const [dialog, setDialog] = useState<'scale' | 'destroy' | undefined>();
  const [instances, setInstances] = useState(String(app.instances));
  const [confirm, setConfirm] = useState('');
  const [locked, setLocked] = useState<string | undefined>();
  const [editing, setEditing] = useState(false);
  const [confirmDialog, ask] = useConfirm();
  const close = () => setDialog(undefined);
  const refresh = () => hub.invalidate(['apps', 'deployments', 'queue', 'tasks']);

  const scale = async () => {
    const n = Number(instances);
    if (!Number.isInteger(n) || n < 0) return notify('Instances must be a whole number ≥ 0', 'bad');
    await request('PUT', appPath(app.id), { instances: n })
      .then(() => notify(`Scaling ${app.id} to ${n}`))
      .catch(failed('Scale'));
    refresh();
    close();
  };
  const restart = async () => {
    await request('POST', `${appPath(app.id)}/restart`, {})
      .then(() => notify(`Restarting ${app.id}`))
      .catch(failed('Restart'));
    refresh();
  };
  const destroy = async (force: boolean) => {
    try {
      await request('DELETE', `${appPath(app.id)}${force ? '?force=true' : ''}`);
      notify(`Destroying ${app.id}`);
      close();
      navigate('/services');
    } catch (e) {
      // 409: a deployment holds the app. Say so and offer to override it, as Marathon's UI did.
      if (e instanceof ApiError && e.status === 409 && !force) setLocked(e.message);
      else {
        failed('Destroy')(e);
        close();
      }
    }
    refresh();
  };

  return (
    <div className="row-actions" onClick={(e) => e.stopPropagation()}>
      {compact ? null : (
        <button type="button" onClick={() => setEditing(true)}>
          Edit
        </button>
      )}
      <button
        type="button"
        className={compact ? 'small' : undefined}
        onClick={() => {
          setInstances(String(app.instances));
          setDialog('scale');
        }}
      >
        Scale
      </button>
      <button
        type="button"
        className={compact ? 'small' : undefined}
        onClick={() => ask(`Restart ${app.id}?`, `Each of its ${app.tasksRunning} running instance(s) is replaced by a new one, following its upgrade strategy.`, 'Restart', restart)}
      >
        Restart
      </button>
      <button
        type="button"
        className={`danger${compact ? ' small' : ''}`}
        onClick={() => {
          setConfirm('');
          setLocked(undefined);
          setDialog('destroy');
        }}
      >
        Destroy
      </button>
      {confirmDialog}
      {editing ? <ServiceForm existing={app} onClose={() => setEditing(false)} /> : null}
      {dialog === 'scale' ? (
        <Modal title={`Scale ${app.id}`} onClose={close}>
          <div className="modal-body">
            <div className="field">
              <label htmlFor="scale-instances">Instances</label>
              <input id="scale-instances" type="number" min={0} autoFocus value={instances} onChange={(e) => setInstances(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && void scale()} />
              <div className="hint">
                Now {app.instances}; {app.tasksRunning} running.
              </div>
            </div>
          </div>
          <div className="modal-foot">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="button" className="primary" onClick={() => void scale()}>
              Scale service
            </button>
          </div>
        </Modal>
      ) : null}
      {dialog === 'destroy' ? (
        <Modal title={`Destroy ${app.id}`} onClose={close}>
          <div className="modal-body">
            <p>
              This kills all {app.tasksRunning} running instances and deletes the service and its versions. Type <code>{app.id}</code> to confirm.
            </p>
            {locked ? <div className="alert warn">{locked} — destroying anyway cancels that deployment.</div> : null}
            <div className="field">
              <label htmlFor="destroy-confirm">Service ID</label>
              <input id="destroy-confirm" className="mono" autoFocus value={confirm} onChange={(e) => setConfirm(e.target.value)} />
            </div>
          </div>
          <div className="modal-foot">
            <button type="button" onClick={close}>
              Cancel
            </button>
            {locked ? (
              <button type="button" className="danger solid" disabled={confirm !== app.id} onClick={() => void destroy(true)}>
                Destroy anyway
              </button>
            ) : (
              <button type="button" className="danger solid" disabled={confirm !== app.id} onClick={() => void destroy(false)}>
                Destroy service
              </button>
            )}
          </div>
        </Modal>
      ) : null}
    </div>
  );
}
