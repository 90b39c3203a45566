// User and group names → numeric ids for spawn(). /etc/passwd and /etc/group first (tiny files,
// read synchronously at spawn time only, never in a hot path), then `getent` so NSS sources
// (LDAP, sssd) work too.
//
// Supplementary groups: Node's spawn (libuv) calls setgroups(0, NULL) before setgid/setuid when
// a uid or gid is given, so the child has its primary group only, never the user's supplementary
// groups; Node offers no initgroups() for a child. A script that needs them can re-exec itself
// through `setpriv --init-groups` or `runuser`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Identity {
  uid?: number;
  gid?: number;
}

export class IdentityError extends Error {
  constructor(
    readonly errno: 'ENOUSER' | 'ENOGROUP',
    message: string,
  ) {
    super(message);
  }
}

type Entry = string[];

function lookup(db: 'passwd' | 'group', key: string, byId: boolean): Entry | null {
  const field = byId ? 2 : 0;
  try {
    for (const line of readFileSync(`/etc/${db}`, 'utf8').split('\n')) {
      const parts = line.split(':');
      if (parts.length >= 3 && parts[field] === key) return parts;
    }
  } catch {
    // no local file: NSS below
  }
  try {
    const out = execFileSync('getent', [db, key], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const parts = out.split('\n')[0]?.split(':') ?? [];
    return parts.length >= 3 ? parts : null;
  } catch {
    return null;
  }
}

const NUMERIC = /^\d+$/;

function toId(value: string | number): { id: number } | { name: string } {
  if (typeof value === 'number') return { id: value };
  return NUMERIC.test(value) ? { id: Number(value) } : { name: value };
}

/**
 * The uid/gid to run as. With a user and no group, the user's primary group; a numeric uid unknown
 * to the system needs an explicit group (running as uid N with root's gid would be a trap).
 */
export function resolveIdentity(user?: string | number, group?: string | number): Identity {
  const out: Identity = {};
  if (user !== undefined) {
    const u = toId(user);
    const entry = 'id' in u ? lookup('passwd', String(u.id), true) : lookup('passwd', u.name, false);
    if ('name' in u && !entry) throw new IdentityError('ENOUSER', `unknown user ${JSON.stringify(u.name)}`);
    out.uid = 'id' in u ? u.id : Number(entry?.[2]);
    const primary = entry?.[3];
    if (primary !== undefined && NUMERIC.test(primary)) out.gid = Number(primary);
  }
  if (group !== undefined) {
    const g = toId(group);
    if ('id' in g) out.gid = g.id;
    else {
      const entry = lookup('group', g.name, false);
      if (!entry) throw new IdentityError('ENOGROUP', `unknown group ${JSON.stringify(g.name)}`);
      out.gid = Number(entry[2]);
    }
  }
  if (out.uid !== undefined && out.gid === undefined) {
    throw new IdentityError('ENOGROUP', `uid ${out.uid} has no passwd entry: give a group explicitly`);
  }
  return out;
}
