// POSIX shell quoting for values that the compiler writes into scripts at build time, and the
// names of the environment variables through which install-time parameter values reach scripts.
//
// A template never inlines a parameter value: `{{params.port}}` becomes `"${HAMOD_PARAM_PORT}"`
// (paramReference) and the runtime exports the validated value under that name. Build-time
// constants (module name, version, mode) are inlined as single-quoted literals (shQuote). Neither
// form lets a value become shell code: the shell never re-parses the result of an expansion, and
// nothing is special inside single quotes.

/** Parameter names of the module language; also what keeps env var names injective. */
export const PARAM_NAME_RE = /^[a-z][a-z0-9_]*$/;

/** Prefix of the environment variables carrying install-time parameter values. */
export const PARAM_ENV_PREFIX = 'HAMOD_PARAM_';

/**
 * Quotes `s` as one POSIX shell word that expands to exactly `s`: the whole string in single
 * quotes, each `'` written as `'\''`. The empty string gives `''`. NUL cannot be represented in a
 * shell word (nor in argv or the environment), so it is refused with an Error.
 */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new Error('shQuote: a shell word cannot contain a NUL character');
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Name of the environment variable holding parameter `name`: `HAMOD_PARAM_` + name uppercased.
 * Throws on a name that does not match `^[a-z][a-z0-9_]*$` (which would not give a portable,
 * unique variable name).
 */
export function paramEnvName(name: string): string {
  if (!PARAM_NAME_RE.test(name)) {
    throw new Error(`paramEnvName: invalid parameter name ${JSON.stringify(name)} (expected ${PARAM_NAME_RE.source})`);
  }
  return PARAM_ENV_PREFIX + name.toUpperCase();
}

/** What `{{params.<name>}}` renders to: a double-quoted expansion, `"${HAMOD_PARAM_<NAME>}"`. */
export function paramReference(name: string): string {
  return `"\${${paramEnvName(name)}}"`;
}
