// Every example policy is valid, has no warnings, and has its own name; each
// example shows one feature, so they double as documentation that is checked.
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { canonicalJson } from '../services/policy/load.ts';
import { loadPolicy } from '../services/policy/load-text.ts';

const dir = join(import.meta.dirname, '..', 'examples', 'policies');
const files = readdirSync(dir)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

const load = (f: string): ReturnType<typeof loadPolicy> =>
  loadPolicy(readFileSync(join(dir, f), 'utf8'));

describe('examples/policies', () => {
  it('has examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  it.each(files)('%s validates with no errors and no warnings', (f) => {
    const r = load(f);
    expect(
      r.issues.map((i) => `${i.severity ?? 'error'} ${i.path} ${i.line}:${i.column} ${i.message}`),
    ).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Its canonical form is valid too, with the same digest.
    if (!r.canonical) throw new Error('no canonical form');
    expect(loadPolicy(canonicalJson(r.canonical)).digest).toBe(r.digest);
  });

  it.each(files)('%s explains itself with comments and a description', (f) => {
    const text = readFileSync(join(dir, f), 'utf8');
    if (f.endsWith('.json')) return;
    expect(text.startsWith('#')).toBe(true);
    expect(load(f).canonical?.metadata.description).not.toBe('');
  });

  it('gives every example its own metadata.name', () => {
    const names = files.map((f) => load(f).canonical?.metadata.name);
    expect(names.every((n) => typeof n === 'string' && n.length > 0)).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives every example its own digest', () => {
    const digests = files.map((f) => load(f).digest);
    expect(new Set(digests).size).toBe(digests.length);
  });

  it.each(
    files.filter(
      (f) =>
        !['oomd-default', 'systemd-oomd-default', 'earlyoom-default'].includes(
          basename(f, '.yaml'),
        ),
    ),
  )('%s is named after its file', (f) => {
    expect(load(f).canonical?.metadata.name).toBe(basename(f).replace(/\.(ya?ml|json)$/, ''));
  });
});

describe('examples cover the language', () => {
  const all = files.map((f) => ({ f, c: load(f).canonical }));
  const texts = all.map(({ c }) => (c ? canonicalJson(c) : '')).join('\n');

  it.each([
    ['user-space OOM', '"userspaceOom":{"enabled":true'],
    ['memoryMin', '"memoryMin"'],
    ['memoryLow', '"memoryLow"'],
    ['memoryHigh', '"memoryHigh"'],
    ['oomGroup', '"oomGroup":true'],
    ['pressure with for', '"for":"10s"'],
    ['usage of limit', '"of":"limit"'],
    ['usage of ram', '"of":"ram"'],
    ['available', '"available"'],
    ['oom', '"oom"'],
    ['growth', '"growth"'],
    ['swap', '"swap"'],
    ['among cgroup', '"among":"cgroup"'],
    ['fastest-growing', '"victim":"fastest-growing"'],
    ['lowest-priority', '"victim":"lowest-priority"'],
    ['newest', '"victim":"newest"'],
    ['oldest', '"victim":"oldest"'],
    ['grace', '"grace":"15s"'],
    ['until-clear', '"repeat":"until-clear"'],
    ['prefer', '"prefer":["'],
    ['avoid', '"avoid":["'],
    ['cmdline protection', '{"cmdline":'],
    ['throttle', '"throttle"'],
    ['notify', '"notify"'],
    ['rule dry run', '"dryRun":true,"name"'],
    ['spec dry run', '"dryRun":true,"interval"'],
    ['kill budget', '"killBudget":{"max":2'],
    ['global scope', '"scope":"global"'],
  ])('some example shows %s', (_feature, needle) => {
    expect(texts).toContain(needle);
  });
});
