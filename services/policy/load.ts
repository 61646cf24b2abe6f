// The front door of the policy language: text or value in, every issue at
// once, and on success the canonical document, its digest and the compiled
// policy.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { compilePolicy } from './compile.ts';
import { formatPath, type PolicyIssue } from './issues.ts';
import type { CanonicalPolicy, CompiledPolicy } from './model.ts';
import { normalize, stableStringify } from './normalize.ts';
import { MAX_DEPTH } from './depth.ts';
import type { SourceMap } from './parse.ts';
import { PolicySchema } from './schema.ts';
import { structuralIssues, type RawIssue } from './structure.ts';

export interface LoadResult {
  ok: boolean;
  /** Errors and warnings, errors first, in document order. */
  issues: PolicyIssue[];
  canonical?: CanonicalPolicy;
  digest?: string;
  policy?: CompiledPolicy;
  /** The value as written (after YAML/JSON parsing), when it could be parsed. */
  document?: unknown;
}

/** Canonical JSON: keys sorted, no whitespace. The digest is sha256 of these bytes. */
export function canonicalJson(c: CanonicalPolicy): string {
  return stableStringify(c);
}

export function digestOf(c: CanonicalPolicy): string {
  return `sha256:${bytesToHex(sha256(utf8ToBytes(canonicalJson(c))))}`;
}

function toIssue(r: RawIssue, map?: SourceMap): PolicyIssue {
  const pos = map?.locate(r.path, r.atKey);
  return {
    path: formatPath(r.path),
    ...(pos ? { line: pos.line, column: pos.column } : {}),
    message: r.message,
    hint: r.hint,
    severity: r.severity ?? 'error',
  };
}

/** Nesting depth of a plain value, without recursion (a deep value must not overflow the stack). */
function valueDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const [v, d] = top;
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

export function loadPolicyValue(value: unknown, sourceMap?: SourceMap): LoadResult {
  if (valueDepth(value, MAX_DEPTH) > MAX_DEPTH)
    return {
      ok: false,
      document: value,
      issues: [
        {
          path: '',
          message: `document nests deeper than ${MAX_DEPTH} levels`,
          hint: 'flatten the conditions',
          severity: 'error',
        },
      ],
    };
  let raw: RawIssue[];
  let canonical: CanonicalPolicy | undefined;
  try {
    const structural = structuralIssues(PolicySchema, value);
    const normalized = normalize(value);
    canonical = normalized.canonical;
    // A meaning check on a value the structure check already refused adds noise.
    const refused = new Set(structural.map((s) => JSON.stringify(s.path)));
    raw = [...structural, ...normalized.issues.filter((i) => !refused.has(JSON.stringify(i.path)))];
  } catch (err) {
    // The checks are written not to throw; this is the last line of defence
    // so that no input can crash a caller.
    return {
      ok: false,
      document: value,
      issues: [
        {
          path: '',
          message: `internal error while validating: ${(err as Error).message}`,
          hint: 'please report this document as a bug',
          severity: 'error',
        },
      ],
    };
  }
  const issues = raw.map((r) => toIssue(r, sourceMap));
  issues.sort((a, b) => {
    const sev = (a.severity === 'warning' ? 1 : 0) - (b.severity === 'warning' ? 1 : 0);
    return sev || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
  });
  const ok = !issues.some((i) => i.severity !== 'warning');
  if (!ok || !canonical) return { ok: false, issues, document: value };
  const digest = digestOf(canonical);
  return {
    ok,
    issues,
    canonical,
    digest,
    policy: compilePolicy(canonical, digest),
    document: value,
  };
}
