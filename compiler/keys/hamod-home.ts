// Where hamod keeps per-user state: $HAMOD_HOME, or ~/.hamod. Resolved from an injected
// environment so tests (and embedding programs) never touch the real home directory.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface KeyStore {
  /** $HAMOD_HOME */
  home: string;
  /** Our own keys: NAME.key (private, 0600) and NAME.pub. */
  keysDir: string;
  /** Public keys of other signers we trust: *.pub. */
  trustedDir: string;
}

export function resolveHamodHome(env: Record<string, string | undefined> = process.env, home: string = homedir()): string {
  const fromEnv = env['HAMOD_HOME'];
  return resolve(fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(home, '.hamod'));
}

export function keyStoreAt(home: string): KeyStore {
  return { home, keysDir: join(home, 'keys'), trustedDir: join(home, 'trusted') };
}

export function keyStoreFromEnv(env: Record<string, string | undefined> = process.env): KeyStore {
  return keyStoreAt(resolveHamodHome(env));
}
