// The short-lived process that checks a policy for the agent's worker. The
// whole check runs here, ReDoS analysis included: recheck costs tens of MB
// once loaded and the worker must stay small, so the worker only takes the
// verdict and the patterns found safe (services/agent/policy-check/vet.ts).
// Input on stdin: {"text": "..."} or {"value": {...}}; output on stdout: a
// VetResult as JSON.
import { loadPolicyValue, safeRegexes } from '../../policy/index.ts';
import { loadPolicy } from '../../policy/load-text.ts';
import type { VetInput, VetResult } from './vet.ts';

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as VetInput;
const r = 'text' in input ? loadPolicy(input.text) : loadPolicyValue(input.value);
const result: VetResult = {
  ok: r.ok,
  issues: r.issues,
  safeRegexes: safeRegexes(),
  ...(r.ok && r.canonical ? { canonical: r.canonical } : {}),
};
process.stdout.write(JSON.stringify(result));
