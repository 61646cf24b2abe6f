// Snapshot files for `policy explain` and simulations: one snapshot, or a
// list of snapshots oldest first (the last is "now", the rest its history),
// validated against the snapshot schema with paths in the errors.
import { formatPath, type PolicyIssue } from './issues.ts';
import { parseText } from './parse.ts';
import { emptyHistory, SnapshotSchema, type History, type HostSnapshot } from './snapshot.ts';
import { structuralIssues } from './structure.ts';

export interface SnapshotInput {
  snapshot?: HostSnapshot;
  history: History;
  issues: PolicyIssue[];
}

export function loadSnapshotText(text: string): SnapshotInput {
  const { parsed, issues } = parseText(text);
  if (!parsed) return { history: emptyHistory(), issues };
  const list = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
  const all: PolicyIssue[] = [];
  list.forEach((v, i) => {
    for (const r of structuralIssues(SnapshotSchema, v)) {
      const path = Array.isArray(parsed.value) ? [i, ...r.path] : r.path;
      const pos = parsed.sourceMap.locate(path, r.atKey);
      all.push({
        path: formatPath(path),
        ...(pos ? { line: pos.line, column: pos.column } : {}),
        message: r.message,
        hint: r.hint,
        severity: 'error',
      });
    }
  });
  if (list.length === 0)
    all.push({
      path: '',
      message: 'no snapshot in the file',
      hint: 'give one snapshot or a list of them',
      severity: 'error',
    });
  if (all.length > 0) return { history: emptyHistory(), issues: all };
  const snaps = (list as HostSnapshot[]).slice().sort((a, b) => a.time - b.time);
  const snapshot = snaps[snaps.length - 1];
  return { snapshot, history: { ...emptyHistory(), snapshots: snaps.slice(0, -1) }, issues: [] };
}
