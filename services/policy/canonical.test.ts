// The canonical form and digest: documents that mean the same have one digest,
// documents that mean different things do not, and the canonical JSON is itself
// a valid policy with the same digest.
import { describe, it, expect } from 'vitest';
import { canonicalJson, digestOf, loadPolicyValue, type LoadResult } from './load.ts';
import { loadPolicy } from './load-text.ts';

function valid(text: string): LoadResult & { digest: string } {
  const r = loadPolicy(text);
  expect(
    r.issues.filter((i) => i.severity !== 'warning'),
    text,
  ).toEqual([]);
  expect(r.ok).toBe(true);
  if (!r.digest) throw new Error('no digest');
  return { ...r, digest: r.digest };
}

const digest = (text: string): string => valid(text).digest;

function expectSameDigest(...texts: string[]): void {
  const digests = texts.map(digest);
  for (const d of digests) expect(d).toBe(digests[0]);
}

function expectDifferentDigest(a: string, b: string): void {
  expect(digest(a)).not.toBe(digest(b));
}

const policy = (spec: string, name = 'same'): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: ${name}
spec:
${spec}`;

const RICH = policy(`  interval: 2s
  killBudget: { max: 3, per: 1m }
  protect:
    - cgroup: /system.slice/sshd.service
      memoryMin: 64Mi
    - process: "^(sshd|systemd-journald)$"
    - cmdline: "^/usr/lib/firefox/firefox$"
  cgroups:
    - match: /batch/*
      memoryHigh: 90%
      memoryMax: 8Gi
      oomGroup: true
      userspaceOom: { enabled: true, fallbackAfter: 2s }
  rules:
    - name: batch-pressure
      scope: /batch/*
      when:
        any:
          - pressure: { kind: full, window: avg10, above: 30, for: 10s }
          - usage: { of: limit, above: 95% }
          - oom: {}
      action:
        kill: { victim: fastest-growing, among: cgroup, prefer: ["^/batch/spark-"], avoid: ["^/batch/db"], grace: 5s }
      cooldown: 30s
    - name: host-low
      scope: global
      when:
        all:
          - available: { below: 5% }
          - swap: { below: 10% }
      action:
        kill: { victim: largest, repeat: until-clear }
`);

describe('one meaning, one digest', () => {
  it('ignores key order at every level', () => {
    expectSameDigest(
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30, kind: some, window: avg60, for: 5s } }
      action: { kill: { victim: newest, grace: 5s } }
      cooldown: 1m
`),
      `spec:
  rules:
    - cooldown: 1m
      action: { kill: { grace: 5s, victim: newest } }
      when: { pressure: { for: 5s, window: avg60, kind: some, above: 30 } }
      scope: /batch/*
      name: r
metadata:
  name: same
kind: OomPolicy
apiVersion: oomfleet/v1
`,
    );
  });

  it('ignores comments, quoting and flow vs block style', () => {
    expectSameDigest(
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: 95% } }
      action: { notify: { message: hi } }
`),
      `# a comment
apiVersion: "oomfleet/v1"   # quoted
kind: 'OomPolicy'
metadata: { name: same }
spec:
  rules:
    - name: "r"
      scope: '/batch/*'
      when:
        usage:
          above: "95%"
      action:
        notify:
          message: "hi"
`,
    );
  });

  it('gives YAML and JSON of the same document one digest', () => {
    const yaml = RICH;
    const value = loadPolicy(yaml).document;
    const json = JSON.stringify(value, null, 2);
    expect(json.startsWith('{')).toBe(true);
    expectSameDigest(yaml, json, JSON.stringify(value));
  });

  it('treats "1024Mi", "1Gi", 1073741824 and "1048576Ki" as the same size', () => {
    const sized = (s: string): string =>
      policy(`  cgroups:
    - match: /batch/*
      memoryMax: ${s}
  rules:
    - name: r
      scope: /batch/*
      when: { growth: { above: ${s} } }
      action: { throttle: { memoryHigh: ${s} } }
`);
    expectSameDigest(
      sized('1Gi'),
      sized('1024Mi'),
      sized('1073741824'),
      sized('"1073741824"'),
      sized('1048576Ki'),
      sized('1.0Gi'),
    );
    expect(valid(sized('1024Mi')).canonical?.spec.cgroups[0]?.memoryMax).toBe(1024 ** 3);
    expectDifferentDigest(sized('1Gi'), sized('1025Mi'));
  });

  it('treats "90s", "1m30s" and "90000ms" as the same duration', () => {
    const timed = (d: string): string =>
      policy(`  interval: ${d}
  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30, for: ${d} } }
      action: { notify: {} }
      cooldown: ${d}
`);
    expectSameDigest(timed('90s'), timed('1m30s'), timed('90000ms'), timed('1m20s10000ms'));
    expect(valid(timed('90s')).canonical?.spec.interval).toBe('1m30s');
  });

  it('treats a bare pressure percentage and "NN%" alike', () => {
    const p = (v: string): string =>
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: ${v} } }
      action: { notify: {} }
`);
    expectSameDigest(p('30'), p('"30%"'), p('30.0'), p('30%'));
  });

  it('treats defaults written out and omitted as the same', () => {
    const omitted = policy(`  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { above: 30 } }
      action: { kill: {} }
    - name: s
      scope: /web/*
      when: { any: [{ oom: {} }, { growth: { above: 64Mi } }] }
      action: { throttle: { memoryHigh: 80% } }
    - name: t
      scope: /web/*
      when: { oom: {} }
      action: { notify: {} }
  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      userspaceOom: { enabled: true }
`);
    const written = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: same, description: "" }
spec:
  interval: 1s
  dryRun: false
  killBudget: { max: 10, per: 1m }
  protect: []
  cgroups:
    - match: /batch/*
      memoryMax: 8Gi
      userspaceOom: { enabled: true, fallbackAfter: 2s }
  rules:
    - name: r
      scope: /batch/*
      when: { pressure: { kind: full, window: avg10, above: 30, for: 0s } }
      action:
        kill: { victim: largest, among: process, prefer: [], avoid: [], grace: 0s, repeat: once }
      cooldown: 15s
      dryRun: false
    - name: s
      scope: /web/*
      when: { any: [{ oom: { on: any } }, { growth: { above: 64Mi, window: 10s } }] }
      action: { throttle: { memoryHigh: 80%, duration: 30s } }
      cooldown: 15s
      dryRun: false
    - name: t
      scope: /web/*
      when: { oom: { on: any } }
      action: { notify: { message: "", severity: warning } }
      cooldown: 15s
      dryRun: false
`;
    expectSameDigest(omitted, written);
  });

  it('treats protect entries, prefer and avoid as sets: order and duplicates do not matter', () => {
    const a = policy(`  protect:
    - process: "^sshd$"
    - cgroup: /system.slice/sshd.service
      memoryMin: 64Mi
    - cmdline: "--type=browser"
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { prefer: ["^spark-", "^flink-"], avoid: ["^postgres$", "^redis"] }
`);
    const b = policy(`  protect:
    - cmdline: "--type=browser"
    - cgroup: /system.slice/sshd.service
      memoryMin: 67108864
    - process: "^sshd$"
    - process: "^sshd$"
  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action:
        kill: { avoid: ["^redis", "^postgres$", "^redis"], prefer: ["^flink-", "^spark-", "^flink-"] }
`);
    expectSameDigest(a, b);
  });

  it('treats the children of any/all as sets, at every level', () => {
    const a = policy(`  rules:
    - name: r
      scope: /batch/*
      when:
        all:
          - any: [{ oom: {} }, { usage: { above: 95% } }]
          - available: { below: 5% }
      action: { notify: {} }
`);
    const b = policy(`  rules:
    - name: r
      scope: /batch/*
      when:
        all:
          - available: { below: 5% }
          - any: [{ usage: { above: 95% } }, { oom: { on: any } }, { oom: {} }]
          - available: { below: 5% }
      action: { notify: {} }
`);
    expectSameDigest(a, b);
    const c = valid(b).canonical?.spec.rules[0]?.when;
    expect(c && 'all' in c ? c.all.length : 0).toBe(2);
  });

  it('normalises globs: trailing slash and repeated `**`', () => {
    const g = (s: string): string =>
      policy(`  cgroups:
    - match: ${s}
      memoryMax: 1Gi
`);
    expectSameDigest(g('/batch/**'), g('/batch/**/'), g('/batch/**/**'));
  });
});

describe('different meanings, different digests', () => {
  const twoRules = (first: string, second: string): string =>
    policy(`  rules:
    - name: ${first}
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
    - name: ${second}
      scope: /web/*
      when: { oom: {} }
      action: { notify: {} }
`);

  it('keeps rule order: rules are evaluated in order', () => {
    const ab = twoRules('a', 'b');
    const ba = policy(`  rules:
    - name: b
      scope: /web/*
      when: { oom: {} }
      action: { notify: {} }
    - name: a
      scope: /batch/*
      when: { oom: {} }
      action: { notify: {} }
`);
    expectDifferentDigest(ab, ba);
  });

  it('keeps cgroups order: the first entry setting a field wins', () => {
    const a = policy(`  cgroups:
    - match: /batch/*
      memoryMax: 1Gi
    - match: /batch/big
      memoryMax: 2Gi
`);
    const b = policy(`  cgroups:
    - match: /batch/big
      memoryMax: 2Gi
    - match: /batch/*
      memoryMax: 1Gi
`);
    expectDifferentDigest(a, b);
  });

  it('changes with a threshold, a unit, a default overridden, a name or the description', () => {
    const base = (above: string, extra = '', name = 'same'): string =>
      policy(
        `  rules:
    - name: r
      scope: /batch/*
      when: { usage: { above: ${above} } }
      action: { notify: {} }
${extra}`,
        name,
      );
    const d = digest(base('95%'));
    expect(digest(base('94%'))).not.toBe(d);
    expect(digest(base('95.5%'))).not.toBe(d);
    expect(digest(base('95Gi'))).not.toBe(d);
    expect(digest(base('95%', '      cooldown: 16s\n'))).not.toBe(d);
    expect(digest(base('95%', '      dryRun: true\n'))).not.toBe(d);
    expect(digest(base('95%', '', 'other'))).not.toBe(d);
    const described = base('95%').replace('name: same', 'name: same\n  description: x');
    expect(digest(described)).not.toBe(d);
  });

  it('distinguishes usage of limit from usage of ram, and any from all', () => {
    const u = (of: string): string =>
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { usage: { of: ${of}, above: 90% } }
      action: { notify: {} }
`);
    expectDifferentDigest(u('limit'), u('ram'));
    const c = (k: string): string =>
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { ${k}: [{ oom: {} }, { swap: { below: 5% } }] }
      action: { notify: {} }
`);
    expectDifferentDigest(c('any'), c('all'));
  });

  it('does not confuse a prefer list with an avoid list', () => {
    const k = (key: string): string =>
      policy(`  rules:
    - name: r
      scope: /batch/*
      when: { oom: {} }
      action: { kill: { ${key}: ["^x$"] } }
`);
    expectDifferentDigest(k('prefer'), k('avoid'));
  });
});

describe('canonical JSON', () => {
  it('is sorted, compact JSON, and the digest is its sha256', () => {
    const r = valid(RICH);
    if (!r.canonical) throw new Error('no canonical form');
    const text = canonicalJson(r.canonical);
    expect(text).not.toMatch(/\n/);
    expect(text).not.toMatch(/": /);
    expect(text.startsWith('{"apiVersion":"oomfleet/v1","kind":"OomPolicy","metadata":')).toBe(
      true,
    );
    expect(digestOf(r.canonical)).toBe(r.digest);
    expect(JSON.parse(text)).toEqual(r.canonical);
  });

  it('parses back to the same digest (parse → canonical JSON → parse)', () => {
    for (const text of [
      RICH,
      policy('  rules: []\n'),
      policy('  interval: 90s\n  dryRun: true\n'),
    ]) {
      const first = valid(text);
      if (!first.canonical) throw new Error('no canonical form');
      const again = valid(canonicalJson(first.canonical));
      expect(again.digest).toBe(first.digest);
      expect(again.canonical).toEqual(first.canonical);
      // The canonical form is a fixed point, also through loadPolicyValue.
      expect(loadPolicyValue(JSON.parse(canonicalJson(first.canonical))).digest).toBe(first.digest);
    }
  });

  it('writes defaults, bytes, "NN%" and normal durations', () => {
    const r = valid(RICH);
    const spec = r.canonical?.spec;
    expect(spec?.interval).toBe('2s');
    expect(spec?.dryRun).toBe(false);
    expect(spec?.protect).toEqual([
      { cgroup: '/system.slice/sshd.service', memoryMin: 64 * 1024 ** 2 },
      { cmdline: '^/usr/lib/firefox/firefox$' },
      { process: '^(sshd|systemd-journald)$' },
    ]);
    expect(spec?.cgroups[0]).toEqual({
      match: '/batch/*',
      memoryHigh: '90%',
      memoryMax: 8 * 1024 ** 3,
      oomGroup: true,
      userspaceOom: { enabled: true, fallbackAfter: '2s' },
    });
    expect(spec?.rules[1]).toEqual({
      name: 'host-low',
      scope: 'global',
      when: {
        all: [{ available: { below: '5%' } }, { swap: { below: '10%', noSwap: 'ignore' } }],
      },
      action: {
        kill: {
          victim: 'largest',
          among: 'process',
          prefer: [],
          avoid: [],
          grace: '0s',
          repeat: 'until-clear',
        },
      },
      cooldown: '15s',
      dryRun: false,
    });
  });
});
