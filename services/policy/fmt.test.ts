/// <reference types="vite/client" />
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Document, parse, visit } from 'yaml';
import { formatPolicyText } from './fmt.ts';
import { loadPolicy } from './load-text.ts';

// Every example policy in the repository (there may be none yet), read at
// build time by Vite so that this pure module's tests need no file I/O.
const examples = import.meta.glob<string>('../../examples/policies/*.{yaml,yml,json}', {
  query: '?raw',
  import: 'default',
  eager: true,
});

/** fmt succeeds, keeps the digest, and formatting the output again changes nothing. */
function expectStableFormat(text: string): string {
  const before = loadPolicy(text);
  expect(before.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  const r = formatPolicyText(text);
  expect(r.issues.filter((i) => i.severity !== 'warning')).toEqual([]);
  expect(r.ok).toBe(true);
  const out = r.text ?? '';
  expect(r.changed).toBe(out !== text);
  expect(loadPolicy(out).digest).toBe(before.digest);
  const again = formatPolicyText(out);
  expect(again.ok).toBe(true);
  expect(again.text).toBe(out);
  expect(again.changed).toBe(false);
  return out;
}

const COMMENTED = `# Batch tier policy

# kind first on purpose
kind: OomPolicy
spec: # the spec
  # rules section
  rules:
    - when: # trigger
        any:
          - usage: { above: 95%, of: limit }
          - pressure: { for: 10s, above: 30, window: avg10 }
      scope: /batch/*/   # scope
      # the name
      name: batch-pressure
      action:
        kill: { grace: 5s, victim: fastest-growing, prefer: ["^spark-"] }
      cooldown: 30000ms

  # how often
  interval: 1000ms
  cgroups:
    - memoryMax: 8589934592 # 8 GiB
      match: /batch/*
      memoryHigh: 90.0%
      userspaceOom: { fallbackAfter: 2000ms, enabled: true }
  killBudget:
    per: 60s
    max: 3
metadata:
  description: A long description that goes on and on and on and on and on and on and on and on and on
  name: batch-tier
apiVersion: oomfleet/v1
# end
`;

const COMMENTED_FORMATTED = `# Batch tier policy

apiVersion: oomfleet/v1
# kind first on purpose
kind: OomPolicy
metadata:
  name: batch-tier
  description: A long description that goes on and on and on and on and on and on and on and on and on
spec: # the spec
  # how often
  interval: 1s
  killBudget:
    max: 3
    per: 1m
  cgroups:
    - match: /batch/*
      memoryHigh: 90%
      memoryMax: 8Gi # 8 GiB
      userspaceOom: { enabled: true, fallbackAfter: 2s }
  # rules section
  rules:
    # the name
    - name: batch-pressure
      scope: /batch/* # scope
      when: # trigger
        any:
          - usage: { of: limit, above: 95% }
          - pressure: { window: avg10, above: 30%, for: 10s }
      action:
        kill: { victim: fastest-growing, prefer: [ "^spark-" ], grace: 5s }
      cooldown: 30s

# end
`;

const MINIMAL = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: minimal
spec: {}
`;

const GLOBAL_ONLY = `metadata: { name: hosts }
apiVersion: oomfleet/v1
spec:
  rules:
    - action: { kill: { repeat: until-clear, victim: oldest } }
      when:
        all:
          - available: { below: 1048576Ki }
          - any:
              - swap: { below: "10%" }
              - growth: { window: 60000ms, above: 104857600 }
      name: host-guard
      scope: global
  protect:
    - process: "^(sshd|systemd-journald)$"
    - memoryLow: 1536Mi
      cgroup: /system.slice/**/**
      memoryMin: 512Mi
kind: OomPolicy
`;

const SCHEMA_ORDER = {
  root: ['apiVersion', 'kind', 'metadata', 'spec'],
  spec: ['interval', 'dryRun', 'killBudget', 'protect', 'cgroups', 'rules'],
  rule: ['name', 'scope', 'when', 'action', 'cooldown', 'dryRun'],
  cgroup: [
    'match',
    'memoryMin',
    'memoryLow',
    'memoryHigh',
    'memoryMax',
    'swapMax',
    'oomGroup',
    'userspaceOom',
  ],
  protect: ['cgroup', 'process', 'cmdline', 'memoryMin', 'memoryLow'],
  kill: ['victim', 'among', 'prefer', 'avoid', 'grace', 'repeat'],
  pressure: ['kind', 'window', 'above', 'for'],
  growth: ['above', 'window'],
};

function expectOrdered(obj: unknown, order: readonly string[]): void {
  const keys = Object.keys(obj as object);
  expect(keys).toEqual([...keys].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
}

type Obj = Record<string, unknown>;

/** Checks schema key order at the levels the tests write. */
function expectSchemaOrder(text: string): void {
  const v = parse(text) as Obj;
  expectOrdered(v, SCHEMA_ORDER.root);
  const spec = v.spec as Obj;
  expectOrdered(spec, SCHEMA_ORDER.spec);
  for (const p of (spec.protect ?? []) as Obj[]) expectOrdered(p, SCHEMA_ORDER.protect);
  for (const c of (spec.cgroups ?? []) as Obj[]) expectOrdered(c, SCHEMA_ORDER.cgroup);
  const conditions = (c: Obj): void => {
    if (c.pressure) expectOrdered(c.pressure, SCHEMA_ORDER.pressure);
    if (c.growth) expectOrdered(c.growth, SCHEMA_ORDER.growth);
    for (const child of (c.any ?? c.all ?? []) as Obj[]) conditions(child);
  };
  for (const r of (spec.rules ?? []) as Obj[]) {
    expectOrdered(r, SCHEMA_ORDER.rule);
    conditions(r.when as Obj);
    const kill = (r.action as Obj).kill;
    if (kill) expectOrdered(kill, SCHEMA_ORDER.kill);
  }
}

const commentsOf = (text: string): string[] =>
  [...text.matchAll(/#\s*([^\n]*)$/gm)].map((m) => (m[1] ?? '').trim()).sort();

describe('formatPolicyText: YAML', () => {
  it('orders keys, normalises units and keeps every comment in place', () => {
    const r = formatPolicyText(COMMENTED);
    expect(r).toEqual({ ok: true, text: COMMENTED_FORMATTED, changed: true, issues: [] });
    expect(commentsOf(COMMENTED_FORMATTED)).toEqual(commentsOf(COMMENTED));
    expectSchemaOrder(COMMENTED_FORMATTED);
    expectStableFormat(COMMENTED);
  });

  it('leaves a formatted document alone', () => {
    expect(formatPolicyText(COMMENTED_FORMATTED)).toEqual({
      ok: true,
      text: COMMENTED_FORMATTED,
      changed: false,
      issues: [],
    });
    expect(formatPolicyText(MINIMAL)).toEqual({
      ok: true,
      text: MINIMAL,
      changed: false,
      issues: [],
    });
  });

  it('orders keys inside nested conditions and protections, and normalises globs', () => {
    const out = expectStableFormat(GLOBAL_ONLY);
    expect(out).toBe(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: hosts }
spec:
  protect:
    - process: "^(sshd|systemd-journald)$"
    - cgroup: /system.slice/**
      memoryMin: 512Mi
      memoryLow: 1536Mi
  rules:
    - name: host-guard
      scope: global
      when:
        all:
          - available: { below: 1Gi }
          - any:
              - swap: { below: "10%" }
              - growth: { above: 100Mi, window: 1m }
      action: { kill: { victim: oldest, repeat: until-clear } }
`);
    expectSchemaOrder(out);
  });

  it('writes sizes with the largest exact unit, durations and percents in normal form', () => {
    const text = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: units }
spec:
  interval: 1500ms
  killBudget: { max: 5, per: 3600s }
  cgroups:
    - match: /a
      memoryMin: 1024Mi
      memoryLow: 1.5Gi
      memoryHigh: 50.50%
      memoryMax: 8589934592
      swapMax: max
    - match: /b
      memoryMin: 1536Ki
      memoryMax: 10000000
      swapMax: "1000"
  rules:
    - name: r
      scope: /a
      when: { pressure: { above: 30.0 } }
      action: { throttle: { memoryHigh: 80.0%, duration: 120s } }
      cooldown: 0ms
`;
    const out = expectStableFormat(text);
    expect(out).toContain('interval: 1s500ms');
    expect(out).toContain('killBudget: { max: 5, per: 1h }');
    expect(out).toContain('memoryMin: 1Gi');
    expect(out).toContain('memoryLow: 1536Mi');
    expect(out).toContain('memoryHigh: 50.5%');
    expect(out).toContain('memoryMax: 8Gi');
    expect(out).toContain('swapMax: max');
    expect(out).toContain('memoryMin: 1536Ki');
    expect(out).toContain('memoryMax: 10000000');
    expect(out).toContain('swapMax: 1000\n');
    expect(out).toContain('pressure: { above: 30% }');
    expect(out).toContain('throttle: { memoryHigh: 80%, duration: 2m }');
    expect(out).toContain('cooldown: 0s');
  });

  it('does not fill in defaults', () => {
    const out = expectStableFormat(MINIMAL);
    expect(out).not.toMatch(/interval|dryRun|killBudget|description/);
    const rules = expectStableFormat(GLOBAL_ONLY);
    expect(rules).not.toMatch(/cooldown|dryRun|among|grace|prefer|avoid|severity/);
  });

  it('keeps a comment on a key’s own line there, for mappings and lists', () => {
    const text = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: # who
  name: comments
spec:
  rules: # evaluated in order
    - name: r # first
      scope: global
      action: # what
        notify: {}
      when: # why
        oom: {}
`;
    const out = expectStableFormat(text);
    expect(out).toContain('metadata: # who\n');
    expect(out).toContain('rules: # evaluated in order\n');
    expect(out).toContain('    - name: r # first\n');
    expect(out).toContain('      when: # why\n        oom: {}\n      action: # what\n');
  });

  it('moves a comment written above a key together with the key', () => {
    const text = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: moving
spec:
  # about the rules
  rules:
    - name: r
      scope: /a
      # when it fires
      when: { oom: {} }
      action: { notify: {} }
  # every two seconds
  interval: 2s
`;
    const out = expectStableFormat(text);
    expect(out).toBe(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: moving
spec:
  # every two seconds
  interval: 2s
  # about the rules
  rules:
    - name: r
      scope: /a
      # when it fires
      when: { oom: {} }
      action: { notify: {} }
`);
  });

  it('keeps a file header at the top when the first key moves', () => {
    const text = `# Owned by the platform team.

kind: OomPolicy
apiVersion: oomfleet/v1
metadata: { name: header }
spec: {}
`;
    const out = expectStableFormat(text);
    expect(
      out.startsWith('# Owned by the platform team.\n\napiVersion: oomfleet/v1\nkind: OomPolicy\n'),
    ).toBe(true);
  });

  it('keeps anchors before their aliases when keys move', () => {
    const text = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: anchors }
spec:
  cgroups:
    - match: /x
      memoryMax: &m 1Gi # the max
      memoryHigh: *m
  rules:
    - action: &act { notify: { severity: info } }
      when: { oom: {} }
      scope: /x
      name: one
    - name: two
      scope: /x
      when: { oom: { on: stuck } }
      action: *act
`;
    const out = expectStableFormat(text);
    expect(out).toContain('memoryHigh: &m 1Gi\n      memoryMax: *m # the max\n');
    expect(out.indexOf('&act')).toBeLessThan(out.indexOf('*act'));
  });

  it('passes warnings through and keeps the value the author wrote', () => {
    const text = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: warn }
spec:
  rules:
    - name: r
      scope: /a
      when: { usage: { above: 95 } }
      action: { notify: {} }
`;
    const r = formatPolicyText(text);
    expect(r.ok).toBe(true);
    expect(r.issues).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'spec.rules[0].when.usage.above' }),
    ]);
    expect(r.text).toContain('usage: { above: 95 }');
  });

  it('returns the load errors for an invalid document', () => {
    const bad = formatPolicyText(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: bad }
spec:
  interval: 1G
  cgroups:
    - match: /x
      memoryMax: 1G
`);
    expect(bad.ok).toBe(false);
    expect(bad.text).toBeUndefined();
    const errors = bad.issues.filter((i) => i.severity === 'error');
    expect(errors.map((i) => i.path)).toEqual(['spec.interval', 'spec.cgroups[0].memoryMax']);
    expect(errors[1]?.hint).toMatch(/did you mean 1Gi/);
    const syntax = formatPolicyText('apiVersion: [oomfleet/v1\n');
    expect(syntax.ok).toBe(false);
    expect(syntax.issues[0]?.message).toMatch(/YAML syntax/);
  });

  it('refuses a document that defines one anchor name twice', () => {
    const r = formatPolicyText(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: twice }
spec:
  cgroups:
    - match: /x
      memoryMax: &m 1Gi
      memoryHigh: *m
    - match: /y
      memoryMax: &m 2Gi
      memoryHigh: *m
`);
    expect(r.ok).toBe(false);
    expect(r.issues[0]?.message).toMatch(/anchor/);
  });
});

describe('formatPolicyText: JSON', () => {
  const json = JSON.stringify({
    spec: {
      rules: [
        {
          when: { pressure: { above: 25, for: '90s' } },
          action: { kill: { grace: '1000ms', victim: 'newest' } },
          scope: '/batch/*',
          name: 'r',
        },
      ],
      cgroups: [{ memoryMax: 17179869184, match: '/batch/*' }],
      interval: '2000ms',
    },
    metadata: { name: 'json-doc' },
    kind: 'OomPolicy',
    apiVersion: 'oomfleet/v1',
  });

  it('writes JSON with 2-space indent, schema key order and normal units', () => {
    const out = expectStableFormat(json);
    expect(out).toBe(`{
  "apiVersion": "oomfleet/v1",
  "kind": "OomPolicy",
  "metadata": {
    "name": "json-doc"
  },
  "spec": {
    "interval": "2s",
    "cgroups": [
      {
        "match": "/batch/*",
        "memoryMax": "16Gi"
      }
    ],
    "rules": [
      {
        "name": "r",
        "scope": "/batch/*",
        "when": {
          "pressure": {
            "above": "25%",
            "for": "1m30s"
          }
        },
        "action": {
          "kill": {
            "victim": "newest",
            "grace": "1s"
          }
        }
      }
    ]
  }
}
`);
    expectSchemaOrder(out);
  });

  it('reports an already formatted JSON document as unchanged', () => {
    const once = formatPolicyText(json).text ?? '';
    expect(formatPolicyText(once)).toEqual({ ok: true, text: once, changed: false, issues: [] });
  });
});

describe('formatPolicyText: properties', () => {
  it.each(Object.entries(examples))('example %s is stable under fmt', (_name, text) => {
    const loaded = loadPolicy(text);
    // An example that shows a mistake on purpose gets the same errors back.
    if (!loaded.ok) expect(formatPolicyText(text)).toEqual({ ok: false, issues: loaded.issues });
    else expectStableFormat(text);
  });

  it.each([
    ['commented', COMMENTED],
    ['minimal', MINIMAL],
    ['global only', GLOBAL_ONLY],
  ])('inline document %s is stable under fmt', (_name, text) => {
    expectStableFormat(text);
  });

  /** Deterministic PRNG so a failing case can be replayed from its seed. */
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function shuffled(v: unknown, next: () => number): unknown {
    if (Array.isArray(v)) return v.map((x) => shuffled(x, next));
    if (v === null || typeof v !== 'object') return v;
    const entries = Object.entries(v as Obj);
    for (let i = entries.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      const a = entries[i];
      const b = entries[j];
      if (a && b) [entries[i], entries[j]] = [b, a];
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, shuffled(x, next)]));
  }

  const bases = [COMMENTED, GLOBAL_ONLY, MINIMAL].map((t) => loadPolicy(t).document);

  it('any key order, with comments and blank lines anywhere, formats to the same meaning, stably', () => {
    fc.assert(
      fc.property(
        fc.nat(bases.length - 1),
        fc.nat(),
        fc.array(fc.nat(200), { maxLength: 12 }),
        fc.array(fc.nat(200), { maxLength: 4 }),
        fc.boolean(),
        (which, seed, commentAt, blankAt, flow) => {
          const next = rng(seed);
          const doc = new Document(shuffled(bases[which], next));
          // Some mappings written in flow style, { a: 1, b: 2 }.
          if (flow)
            visit(doc, {
              Map(_, node) {
                if (next() < 0.3) node.flow = true;
              },
            });
          const lines = doc.toString({ lineWidth: 0 }).split('\n');
          for (const at of blankAt) lines.splice(at % lines.length, 0, '');
          // Full-line comments are allowed between any two lines of block YAML.
          commentAt.forEach((at, n) => {
            const i = at % lines.length;
            const indent = /^\s*/.exec(lines[i] ?? '')?.[0] ?? '';
            lines.splice(i, 0, `${indent}# c${n}`);
          });
          const text = lines.join('\n');
          const out = expectStableFormat(text);
          expectSchemaOrder(out);
          const written = commentAt.map((_, n) => `c${n}`).sort();
          expect(commentsOf(out).filter((c) => /^c[0-9]+$/.test(c))).toEqual(written);
        },
      ),
      { numRuns: 150 },
    );
  });
});
