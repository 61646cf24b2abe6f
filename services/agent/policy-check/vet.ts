// Vets a policy in a short-lived child process before the worker loads it,
// so the ReDoS analysis (recheck) never becomes resident in the worker. The
// worker then loads the policy itself with the child's verdicts on its
// patterns remembered, and gets the same result without analysing anything.
import { execFile } from 'node:child_process';
import {
  loadPolicyValue,
  rememberSafeRegexes,
  type CanonicalPolicy,
  type LoadResult,
  type PolicyIssue,
} from '../../policy/index.ts';
import { entryPoint } from '../entry-points.ts';

export type VetInput = { text: string } | { value: unknown };

export interface VetResult {
  ok: boolean;
  issues: PolicyIssue[];
  /** Patterns the child showed safe. */
  safeRegexes: string[];
  /** The canonical document, when ok. */
  canonical?: CanonicalPolicy;
}

/** Analysis may take 2 s per document; starting Node adds well under 1 s. */
const TIMEOUT_MS = 10_000;

/**
 * Checks a policy in a child process and remembers its safe patterns here.
 * Rejects when the child cannot run; the caller then loads the policy
 * in-process, which analyses the patterns itself: slower and larger, never
 * less safe.
 */
export function vetPolicy(input: VetInput): Promise<VetResult> {
  const entry = entryPoint('policy-check');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [...entry.execArgv, entry.module],
      { timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(`policy check failed: ${err.message}${stderr ? `: ${stderr.trim()}` : ''}`),
          );
          return;
        }
        try {
          const result = JSON.parse(stdout) as VetResult;
          rememberSafeRegexes(result.safeRegexes);
          resolve(result);
        } catch (e) {
          reject(new Error(`policy check printed no verdict: ${(e as Error).message}`));
        }
      },
    );
    child.stdin?.end(JSON.stringify(input));
  });
}

/**
 * A policy loaded as the worker needs it: checked in the child, then loaded
 * here from the child's canonical document, with the child's issues (their
 * line:column refer to the text). When the child cannot run, the policy is
 * loaded here alone: a value directly; text through the YAML parser, which is
 * then loaded on demand (the worker otherwise never carries it).
 */
export async function loadVetted(
  input: VetInput,
  log: (line: string) => void,
): Promise<LoadResult> {
  let vetted: VetResult;
  try {
    vetted = await vetPolicy(input);
  } catch (err) {
    log(`agent: ${(err as Error).message}; checking in-process`);
    if ('value' in input) return loadPolicyValue(input.value);
    const { loadPolicy } = await import('../../policy/load-text.ts');
    return loadPolicy(input.text);
  }
  if (!vetted.ok || !vetted.canonical) return { ok: false, issues: vetted.issues };
  return { ...loadPolicyValue(vetted.canonical), issues: vetted.issues };
}
