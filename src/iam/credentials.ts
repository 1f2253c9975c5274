/**
 * Where a request's credential is: `Authorization: token=<jwt>` (DC/OS), `Authorization: Bearer
 * <jwt>`, or the DC/OS UI's cookie `dcos-acs-auth-cookie` (the web UI's login sets it, HttpOnly and
 * SameSite=Strict, so EventSource streams carry it and other sites' pages cannot).
 */
import { MAX_SECRET_LENGTH } from './secrets.ts';

export const AUTH_COOKIE = 'dcos-acs-auth-cookie';

export function credentialOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers['authorization'];
  const value = Array.isArray(auth) ? auth[0] : auth;
  if (value !== undefined) {
    if (value.length > MAX_SECRET_LENGTH + 16) return undefined;
    const m = /^(?:token=|Bearer\s+)(\S+)$/i.exec(value.trim());
    return m?.[1];
  }
  const cookie = headers['cookie'];
  const text = Array.isArray(cookie) ? cookie.join('; ') : cookie;
  if (text === undefined || text.length > 16 * 1024) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === AUTH_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
