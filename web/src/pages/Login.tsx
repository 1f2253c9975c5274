/**
 * The login page (DC/OS's): shown when the master answers 401. `POST /acs/api/v1/auth/login?cookie=true`
 * sets the HttpOnly, SameSite=Strict cookie every later request (event streams included) carries.
 */
import { useState } from 'react';

export function Login({ onDone }: { onDone: () => void }) {
  const [uid, setUid] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const response = await fetch('/acs/api/v1/auth/login?cookie=true', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uid, password }) });
      if (response.ok) onDone();
      else setError(response.status === 401 ? 'Wrong user name or password' : `Login failed (HTTP ${response.status})`);
    } catch {
      setError('The master is not answering');
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="page login">
      <h1>Log in to Drover</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          User <input name="uid" autoComplete="username" value={uid} onChange={(e) => setUid(e.target.value)} />
        </label>
        <label>
          Password <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error === undefined ? null : (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || uid === '' || password === ''}>
          Log in
        </button>
      </form>
      <p className="hint">
        On the machine running <code>drover dev</code>, the admin token is in <code>&lt;data-dir&gt;/admin-token</code>; create users with <code>drover iam user create</code>.
      </p>
    </div>
  );
}

/** Does the master know who we are? 401 → not logged in. */
export async function loggedIn(): Promise<boolean> {
  try {
    const response = await fetch('/acs/api/v1/authorize', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rid: 'dcos:superuser', action: 'read' }) });
    return response.status !== 401;
  } catch {
    return true;
  }
}
