import { HamodCommand } from '../base.js';
import { dataDirFlag } from '../flags.js';

export default class Status extends HamodCommand {
  static override summary = 'Show nodes × modules: state, role, since, last transition and reason.';
  static override examples = [
    { command: '<%= config.bin %> status', description: 'Both nodes of the cluster, as a table.' },
    { command: '<%= config.bin %> status --json', description: 'The same, as data.' },
  ];
  static override enableJsonFlag = true;
  static override flags = { 'data-dir': dataDirFlag() };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Status);
    const [{ control, DEFAULT_DATA_DIR }, { table }] = await Promise.all([import('../control-client.js'), import('../format.js')]);
    type NS = import('../../runtime/agent/agent.js').NodeStatus;
    const r = await control<{ local: NS; peer: NS | { node: string; error: string } | null }>(flags['data-dir'] ?? DEFAULT_DATA_DIR, 'GET', '/v1/status');
    if (!this.jsonEnabled()) {
      const rows: Array<Record<string, string>> = [];
      const nodes: Array<NS | { node: string; error: string }> = [r.local, ...(r.peer ? [r.peer] : [])];
      for (const n of nodes) {
        if ('error' in n) { rows.push({ node: n.node, module: '-', state: 'UNREACHABLE', role: '-', data: '-', since: '-', last: n.error }); continue; }
        if (n.modules.length === 0) rows.push({ node: n.node, module: '-', state: '-', role: '-', data: '-', since: '-', last: 'no module installed' });
        for (const m of n.modules) {
          rows.push({
            node: n.node, module: m.module, state: m.state + (m.detail ? ` (${m.detail})` : ''), role: m.role, data: dataColumn(m), since: m.since.replace('T', ' ').slice(0, 19),
            last: m.last ? `${m.last.from}->${m.last.to}: ${m.last.reason}` : '',
          });
        }
      }
      const l = r.local;
      this.log(`cluster ${l.cluster}, configuration v${l.configVersion}${l.peer && l.peer.configVersion > l.configVersion ? ` (peer has v${l.peer.configVersion}: updating)` : ''}${l.peer && l.peer.configVersion && l.peer.configVersion < l.configVersion ? ` (peer ${l.peer.name} still has v${l.peer.configVersion})` : ''}; peer ${l.peer?.name ?? '-'} is ${l.peer?.liveness ?? '-'}${l.peer?.degraded.length ? ` (heartbeat networks down: ${l.peer.degraded.join(', ')})` : ''}`);
      this.log(table(rows, ['node', 'module', 'state', 'role', 'data', 'since', 'last']));
    }
    return r;
  }
}

/** Data generation and status, and the replication state (with the reintegration's progress). */
function dataColumn(m: import('../../runtime/agent/agent.js').NodeStatus['modules'][number]): string {
  const d = `${m.data.status} ${m.data.generation.slice(0, 12)}`;
  const s = m.sync;
  if (!s) return d;
  const pct = s.totalBytes > 0 && s.state.startsWith('resyncing') ? ` ${Math.floor((s.doneBytes / s.totalBytes) * 100)}% (${(s.sentBytes / 1048576).toFixed(1)} MiB sent)` : '';
  return `${d}; ${s.state}${pct}`;
}
