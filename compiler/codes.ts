// The closed list of diagnostic codes. docs/errors.md is generated from this table and a test
// fails when they drift. Never reuse or renumber a code: retire it instead.
import type { Severity } from './diagnostics.js';

export interface CodeEntry {
  title: string;
  severity: Severity;
  /** What it means and how to fix it (one or two sentences, rendered in docs/errors.md). */
  doc: string;
}

export const CODES = {
  // 1xx: reading the module directory and parsing YAML
  HM101: { title: 'module-file-missing', severity: 'error', doc: 'The module directory has no `module.yaml`. Run `hamod init DIR` to scaffold one.' },
  HM102: { title: 'file-too-large', severity: 'error', doc: 'A file is larger than the compiler accepts (module.yaml: 1 MiB, any other file: 16 MiB, whole module: 64 MiB).' },
  HM103: { title: 'not-utf8', severity: 'error', doc: 'A text file (module.yaml, a template, README, CHANGELOG) is not valid UTF-8. The position is the first invalid byte.' },
  HM104: { title: 'yaml-syntax', severity: 'error', doc: 'The YAML could not be parsed. The message is the parser\'s, located at the offending token.' },
  HM105: { title: 'yaml-too-deep', severity: 'error', doc: 'Collections are nested deeper than 64 levels. A module never needs this; it is refused to protect the compiler.' },
  HM106: { title: 'yaml-alias-limit', severity: 'error', doc: 'Aliases expand to too many nodes ("billion laughs"). Write the values out or use fewer aliases.' },
  HM107: { title: 'yaml-duplicate-key', severity: 'error', doc: 'A mapping has the same key twice; YAML forbids it and the second would silently win elsewhere.' },
  HM108: { title: 'link-outside-module', severity: 'error', doc: 'A symbolic link in the module directory points outside it, or links are used where only regular files are allowed. Copy the file into the module instead.' },
  HM109: { title: 'unreadable-file', severity: 'error', doc: 'A file of the module cannot be read (permissions, I/O error, or not a regular file).' },
  HM110: { title: 'yaml-multiple-documents', severity: 'error', doc: '`module.yaml` must hold exactly one YAML document.' },
  // 2xx: schema
  HM201: { title: 'wrong-type', severity: 'error', doc: 'A field has the wrong type (for example a string where a number is expected).' },
  HM202: { title: 'missing-field', severity: 'error', doc: 'A required field is missing.' },
  HM203: { title: 'unknown-field', severity: 'error', doc: 'A field is not part of the module language. The message suggests the closest known field.' },
  HM204: { title: 'value-not-allowed', severity: 'error', doc: 'The value is not one of the allowed values.' },
  HM205: { title: 'bad-format', severity: 'error', doc: 'A string does not have the expected format (name, semver version, duration, address, path...).' },
  HM206: { title: 'out-of-range', severity: 'error', doc: 'A number or a list length is outside its allowed range (for example a port outside 1-65535).' },
  HM207: { title: 'schema-violation', severity: 'error', doc: 'Another schema constraint is violated; the message says which.' },
  // 3xx: semantic rules
  HM301: { title: 'duplicate-name', severity: 'error', doc: 'Two services, checkers, parameters, directories, rules or dependencies share a name.' },
  HM302: { title: 'replication-in-farm', severity: 'error', doc: 'Replicated directories only exist in `mirror` mode: in a farm every node keeps its own data.' },
  HM303: { title: 'overlapping-directories', severity: 'error', doc: 'Two replicated directories overlap (one contains the other). Replicate the parent only.' },
  HM304: { title: 'undeclared-variable', severity: 'error', doc: 'A template or a field references a variable that is not declared (for example `{{params.prot}}` when only `port` exists).' },
  HM305: { title: 'port-out-of-range', severity: 'error', doc: 'A port, or a port range, is outside 1-65535 or its bounds are reversed.' },
  HM306: { title: 'bad-address', severity: 'error', doc: 'A virtual IP, ping target or CIDR is not a valid IPv4/IPv6 address or prefix.' },
  HM307: { title: 'self-dependency', severity: 'error', doc: 'A module declares a dependency on itself.' },
  HM308: { title: 'unknown-reference', severity: 'error', doc: 'A reference (service `after`, checker `service`, load-balancing `vip`) names something that does not exist.' },
  HM309: { title: 'mode-mismatch', severity: 'error', doc: 'A field only makes sense in the other mode (load balancing in a mirror, a secondary role in a farm).' },
  HM310: { title: 'parameter-type-mismatch', severity: 'error', doc: 'A parameter default does not match its type, or a parameter is used where its type does not fit (for example a `string` parameter as a virtual IP).' },
  HM311: { title: 'secret-default', severity: 'error', doc: 'A `secret` parameter has a default. Secrets are supplied at install time only and never stored in bundles.' },
  HM312: { title: 'script-not-found', severity: 'error', doc: 'A script or template referenced by the module does not exist in the module directory.' },
  HM313: { title: 'path-outside-module', severity: 'error', doc: 'A referenced file resolves outside the module directory (absolute path, `..`, or a link).' },
  HM314: { title: 'template-syntax', severity: 'error', doc: 'A Handlebars template does not parse, or uses a helper or block that is not allowed.' },
  HM315: { title: 'bad-version-range', severity: 'error', doc: 'A dependency or compatibility range is not a valid semver range.' },
  HM316: { title: 'dependency-cycle', severity: 'error', doc: 'Services form a start-order cycle through `after`.' },
  HM317: { title: 'bad-escalation', severity: 'error', doc: 'A checker escalation is inconsistent (escalating to the action it already takes, or restarts without a window).' },
  HM318: { title: 'timing-inconsistent', severity: 'error', doc: 'Timings contradict each other (a checker timeout not shorter than its interval, a heartbeat timeout not longer than its interval).' },
  HM319: { title: 'template-quoting', severity: 'warning', doc: 'A variable is placed inside single or double quotes in a script. The compiler already quotes values: inside single quotes the result is the literal reference, inside double quotes the expansion ends up unquoted (split and globbed). Write `{{params.NAME}}` bare.' },
  HM320: { title: 'missing-docs', severity: 'warning', doc: 'The module has no README.md or CHANGELOG.md; both are shipped in the bundle and shown in the catalog.' },
  // 4xx: bundles and signatures
  HM401: { title: 'bundle-corrupt', severity: 'error', doc: 'The bundle is not a valid gzip/tar archive (truncated, bad checksum, trailing garbage).' },
  HM402: { title: 'bundle-unsafe-entry', severity: 'error', doc: 'The archive holds an entry that is not allowed: absolute path, `..`, link, device, duplicate or colliding name, or over a size or depth limit.' },
  HM403: { title: 'bundle-manifest-invalid', severity: 'error', doc: 'manifest.json is missing, not canonical JSON, or has an unsupported format version.' },
  HM404: { title: 'bundle-digest-mismatch', severity: 'error', doc: 'A file\'s content does not match its sha256 in the manifest: the bundle was modified.' },
  HM405: { title: 'bundle-file-set-mismatch', severity: 'error', doc: 'A file is in the archive but not in the manifest, or in the manifest but not in the archive.' },
  HM406: { title: 'bundle-signature-invalid', severity: 'error', doc: 'The signature does not verify against the manifest with the signer\'s key: the manifest was changed or swapped.' },
  HM407: { title: 'bundle-untrusted-key', severity: 'error', doc: 'The bundle is signed by a key that is not trusted (not the `--key` given, nor in the trusted keys).' },
  HM408: { title: 'bundle-unsigned', severity: 'error', doc: 'The bundle has no signature.' },
  // 5xx: keys and command input
  HM501: { title: 'key-not-found', severity: 'error', doc: 'The named key or key file does not exist.' },
  HM502: { title: 'key-invalid', severity: 'error', doc: 'A key file is not an ed25519 key in the expected PEM format.' },
  HM503: { title: 'key-permissions', severity: 'error', doc: 'A private key file is readable by group or others; it must be 0600.' },
  HM504: { title: 'key-exists', severity: 'error', doc: 'A key with that name already exists; choose another name or remove it first.' },
  HM505: { title: 'bad-argument', severity: 'error', doc: 'A command argument or flag is invalid.' },
  HM506: { title: 'output-error', severity: 'error', doc: 'The output file or directory cannot be written.' },
} as const satisfies Record<string, CodeEntry>;

export type DiagnosticCode = keyof typeof CODES;

export const CODE_LIST = Object.keys(CODES) as DiagnosticCode[];
