/**
 * The identity directory: users (with a password), service accounts (with an RSA public key, DC/OS
 * service-account login), groups of either, and ACLs (DC/OS shape: a rid with the actions granted
 * to users and groups), all kept in the Store under `/iam/` so every master of an HA set sees the
 * same. The master that serves (the leader) holds a copy in memory, read once at start and updated
 * by its own writes, so a permission check is a map lookup, never a store round trip.
 */
import { DroverError } from '../errors/errors.ts';
import type { Store } from '../store/store.ts';
import { type Action, canonicalRid, isAction, type Permission, SUPERUSER } from './permissions.ts';

export const IAM_PREFIX = '/iam/';
const USERS = `${IAM_PREFIX}users/`;
const GROUPS = `${IAM_PREFIX}groups/`;
const ACLS = `${IAM_PREFIX}acls/`;

export type AccountKind = 'user' | 'service';

export interface Account {
  uid: string;
  kind: AccountKind;
  description: string;
  /** Users: scrypt hash (secrets.ts). */
  passwordHash?: string;
  /** Service accounts: PEM of the RSA public key their login tokens are signed with. */
  publicKey?: string;
}

export interface Group {
  gid: string;
  description: string;
  members: string[];
}

export interface Acl {
  rid: string;
  description: string;
  users: Record<string, Action[]>;
  groups: Record<string, Action[]>;
}

/** uid / gid: DC/OS allows letters, digits and `-_.@`; bounded. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,95}$/;

export function checkId(id: string, what: string): string {
  if (!ID.test(id)) {
    throw new DroverError('VALIDATION', `Invalid ${what} '${id.slice(0, 100)}'`, { details: [{ path: `/${what}`, errors: ['1 to 96 of A-Z a-z 0-9 _ . @ -, starting with a letter or digit'] }] });
  }
  return id;
}

export class IamDirectory {
  readonly accounts = new Map<string, Account>();
  readonly groups = new Map<string, Group>();
  readonly acls = new Map<string, Acl>();

  constructor(private readonly store: Store) {}

  /** Reads users, groups and ACLs (only their prefixes: `/iam/` also holds the key and digests). */
  async load(): Promise<void> {
    for (const prefix of [USERS, GROUPS, ACLS]) {
      const { kvs } = await this.store.range(prefix);
      for (const kv of kvs) {
        const value = JSON.parse(kv.value) as Account & Group & Acl;
        if (prefix === USERS) this.accounts.set(value.uid, value);
        else if (prefix === GROUPS) this.groups.set(value.gid, value);
        else this.acls.set(value.rid, value);
      }
    }
  }

  /** Every permission of `uid`: its own grants and its groups'. */
  grantsOf(uid: string): Permission[] {
    const groups = [...this.groups.values()].filter((g) => g.members.includes(uid)).map((g) => g.gid);
    const out: Permission[] = [];
    for (const acl of this.acls.values()) {
      for (const action of acl.users[uid] ?? []) out.push({ rid: acl.rid, action });
      for (const gid of groups) for (const action of acl.groups[gid] ?? []) out.push({ rid: acl.rid, action });
    }
    return out;
  }

  isSuperuser(uid: string): boolean {
    return this.grantsOf(uid).some((g) => g.rid === SUPERUSER);
  }

  async putAccount(account: Account): Promise<void> {
    checkId(account.uid, 'uid');
    await this.store.put(`${USERS}${account.uid}`, JSON.stringify(account));
    this.accounts.set(account.uid, account);
  }

  async deleteAccount(uid: string): Promise<boolean> {
    if (!this.accounts.has(uid)) return false;
    await this.store.delete(`${USERS}${uid}`);
    this.accounts.delete(uid);
    for (const group of this.groups.values()) if (group.members.includes(uid)) await this.putGroup({ ...group, members: group.members.filter((m) => m !== uid) });
    for (const acl of this.acls.values()) if (acl.users[uid]) await this.revoke(acl.rid, 'users', uid);
    return true;
  }

  async putGroup(group: Group): Promise<void> {
    checkId(group.gid, 'gid');
    await this.store.put(`${GROUPS}${group.gid}`, JSON.stringify(group));
    this.groups.set(group.gid, group);
  }

  async deleteGroup(gid: string): Promise<boolean> {
    if (!this.groups.has(gid)) return false;
    await this.store.delete(`${GROUPS}${gid}`);
    this.groups.delete(gid);
    for (const acl of this.acls.values()) if (acl.groups[gid]) await this.revoke(acl.rid, 'groups', gid);
    return true;
  }

  /** Grant `action` on `rid` to a user or group (idempotent). */
  async grant(rid: string, to: 'users' | 'groups', id: string, action: Action, description = ''): Promise<Acl> {
    if (!isAction(action))
      throw new DroverError('VALIDATION', `Invalid action '${String(action).slice(0, 20)}'`, { details: [{ path: '/action', errors: ['one of create, read, update, delete, full'] }] });
    const canonical = canonicalRid(rid);
    const acl = this.acls.get(canonical) ?? { rid: canonical, description, users: {}, groups: {} };
    const actions = new Set(acl[to][id] ?? []);
    actions.add(action);
    const next: Acl = { ...acl, [to]: { ...acl[to], [id]: [...actions].sort() } };
    await this.putAcl(next);
    return next;
  }

  /** Revoke one action, or every action when `action` is undefined. */
  async revoke(rid: string, from: 'users' | 'groups', id: string, action?: Action): Promise<boolean> {
    const acl = this.acls.get(canonicalRid(rid));
    const had = acl?.[from][id];
    if (!acl || !had) return false;
    const left = action === undefined ? [] : had.filter((a) => a !== action);
    const entries = { ...acl[from] };
    if (left.length === 0) delete entries[id];
    else entries[id] = left;
    await this.putAcl({ ...acl, [from]: entries });
    return true;
  }

  private async putAcl(acl: Acl): Promise<void> {
    const key = `${ACLS}${encodeURIComponent(acl.rid)}`;
    if (Object.keys(acl.users).length === 0 && Object.keys(acl.groups).length === 0) {
      await this.store.delete(key);
      this.acls.delete(acl.rid);
      return;
    }
    await this.store.put(key, JSON.stringify(acl));
    this.acls.set(acl.rid, acl);
  }
}
