// The policy check in a child process (vet.ts): the worker gets the same
// verdicts as loadPolicy would give in-process, and never analyses a pattern
// itself.
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../policy/load-text.ts';
import { safeRegexes } from '../../policy/regex.ts';
import { loadVetted, vetPolicy } from './vet.ts';

const policy = (avoid: string): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: vet }
spec:
  rules:
    - name: r
      scope: /batch/*
      when: { usage: { of: limit, above: 90% } }
      action: { kill: { victim: largest, avoid: ['${avoid}'] } }
`;

describe('vetPolicy (in a child process)', () => {
  it('gives the in-process verdict, with line:column, and hands over the safe patterns', async () => {
    const good = policy('^sshd-vet-\\d+$');
    const r = await vetPolicy({ text: good });
    expect(r.ok).toBe(true);
    expect(r.canonical).toEqual(loadPolicy(good).canonical);
    expect(r.safeRegexes).toContain('^sshd-vet-\\d+$');
    // Remembered here: loading it in this process analyses nothing new.
    expect(safeRegexes()).toContain('^sshd-vet-\\d+$');

    const bad = await vetPolicy({ text: policy('^(a+)+$') });
    expect(bad.ok).toBe(false);
    expect(bad.issues[0]).toMatchObject({
      path: 'spec.rules[0].action.kill.avoid[0]',
      line: 9,
      message: expect.stringContaining('backtrack catastrophically') as string,
    });
  });

  it('loadVetted loads from the child’s canonical document and keeps the text’s issues', async () => {
    const lines: string[] = [];
    const r = await loadVetted({ text: policy('^vet-b$') }, (l) => lines.push(l));
    expect(r.ok).toBe(true);
    expect(r.policy?.name).toBe('vet');
    expect(r.digest).toBe(loadPolicy(policy('^vet-b$')).digest);
    expect(lines).toEqual([]);
    const refused = await loadVetted({ text: 'apiVersion: oomfleet/v1\nkind: Nope\n' }, () => {});
    expect(refused.ok).toBe(false);
    expect(refused.issues.length).toBeGreaterThan(0);
  });
});
