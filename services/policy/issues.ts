// What the validator reports: one entry per problem, all at once.
import type { PathSegment } from './parse.ts';

export interface PolicyIssue {
  /** JSON path of the offending value, e.g. spec.rules[0].when.usage.above ("" for the document). */
  path: string;
  line?: number;
  column?: number;
  message: string;
  /** How to fix it. */
  hint: string;
  severity?: 'error' | 'warning';
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** "FILE:LINE:COL: path: message (hint)" — the form editors and terminals link. */
export function formatIssue(issue: PolicyIssue, file?: string): string {
  const where = [file, issue.line, issue.column].filter((x) => x !== undefined).join(':');
  const sev = issue.severity === 'warning' ? 'warning: ' : '';
  const path = issue.path ? `${issue.path}: ` : '';
  return `${where ? `${where}: ` : ''}${sev}${path}${issue.message}\n    hint: ${issue.hint}`;
}
