// Loading a policy from text (YAML or JSON): parse, then the same checks as a
// value. Apart from load.ts so that a process that only ever loads checked
// values (the agent's worker) does not carry the YAML parser.
import { loadPolicyValue, type LoadResult } from './load.ts';
import { parseText } from './parse.ts';

export function loadPolicy(text: string): LoadResult {
  const { parsed, issues } = parseText(text);
  if (!parsed)
    return { ok: false, issues: issues.map((i) => ({ ...i, severity: 'error' as const })) };
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value))
    return {
      ok: false,
      issues: [
        {
          path: '',
          line: 1,
          column: 1,
          message: 'the document is not a mapping',
          hint: 'a policy starts with apiVersion: oomfleet/v1 and kind: OomPolicy',
          severity: 'error',
        },
      ],
    };
  return loadPolicyValue(parsed.value, parsed.sourceMap);
}
