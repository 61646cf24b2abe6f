/// <reference types="vite/client" />
import { describe, it, expect } from 'vitest';
import { stringify } from 'yaml';
import { compileGlob } from '../glob.ts';
import { loadPolicyValue } from '../load.ts';
import { loadPolicy } from '../load-text.ts';
import { compileRegex } from '../regex.ts';
import {
  importPolicy,
  ImportError,
  pathRegex,
  type ImportInput,
  type ImportSource,
} from './index.ts';
// Read at build time by Vite: services/policy does no file I/O.
import oomdDesktop from '../../../test/fixtures/import/oomd-desktop.json?raw';
import oomdExample from '../../../examples/policies/oomd-default.yaml?raw';
import systemdExample from '../../../examples/policies/systemd-oomd-default.yaml?raw';
import earlyoomExample from '../../../examples/policies/earlyoom-default.yaml?raw';

function importError(f: () => unknown): ImportError {
  try {
    f();
  } catch (e) {
    if (e instanceof ImportError) return e;
    throw e;
  }
  throw new Error('expected an ImportError');
}

describe('importPolicy', () => {
  it('refuses an unknown source, a bad name and empty input, saying how to fix them', () => {
    const a = importError(() => importPolicy('nohang' as ImportSource, [{ name: 'x', text: '' }]));
    expect(a.message).toBe('unknown import source "nohang"');
    expect(a.hint).toMatch(/--from oomd, --from systemd-oomd or --from earlyoom/);
    const b = importError(() =>
      importPolicy('earlyoom', [{ name: 'x', text: '' }], { name: 'My Policy' }),
    );
    expect(b.message).toBe('policy name "My Policy" is not valid');
    expect(b.hint).toMatch(/lower-case letters, digits and dashes/);
    const c = importError(() => importPolicy('oomd', []));
    expect(c.message).toBe('nothing to import from oomd');
    expect(c.name).toBe('ImportError');
  });

  it('names the policy after the source unless told otherwise', () => {
    expect(importPolicy('earlyoom', [{ name: 'c', text: 'earlyoom' }]).document.metadata.name).toBe(
      'earlyoom-import',
    );
    const r = importPolicy('earlyoom', [{ name: 'c', text: 'earlyoom' }], { name: 'laptops' });
    expect(r.document).toMatchObject({
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'laptops' },
    });
  });

  it('makes rule names valid and unique', () => {
    const long = 'A Very Long Ruleset Name That Goes On And On, Well Past Sixty-Three Characters!';
    const rs = (name: string): unknown => ({
      name,
      detectors: [['g', { name: 'swap_free', args: { threshold_pct: '10' } }]],
      actions: [{ name: 'kill_by_swap_usage', args: { cgroup: 'system.slice/*' } }],
    });
    const text = JSON.stringify({ rulesets: [rs(long), rs(long), rs('***')] });
    const r = importPolicy('oomd', [{ name: 'o.json', text }]);
    const names = (r.document.spec.rules ?? []).map((x) => x.name);
    expect(names).toEqual([
      'a-very-long-ruleset-name-that-goes-on-and-on-well-past-sixty',
      'a-very-long-ruleset-name-that-goes-on-and-on-well-past-sixty-2',
      'rule',
    ]);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(63);
  });

  it('returns a plain tree, which YAML prints without anchors', () => {
    const r = importPolicy('oomd', [{ name: 'oomd.json', text: oomdDesktop }]);
    expect(stringify(r.document)).not.toMatch(/[&*]a\d/);
  });
});

describe('pathRegex', () => {
  const cases: [string, string[], string[]][] = [
    ['/', ['/'], ['/a']],
    [
      '/system.slice/sshd.service',
      ['/system.slice/sshd.service'],
      ['/system.slice/sshdXservice', '/system.slice/sshd.service/x'],
    ],
    [
      '/user.slice/user-*.slice/user@*.service',
      ['/user.slice/user-1000.slice/user@1000.service'],
      ['/user.slice/user-1/x.slice/user@1.service'],
    ],
    ['/a/**', ['/a', '/a/b', '/a/b/c'], ['/ab']],
    ['/a/**/c.scope', ['/a/c.scope', '/a/b/c.scope'], ['/a/bc.scope']],
  ];
  for (const [glob, yes, no] of cases)
    it(`${glob} matches what the glob matches`, () => {
      const re = compileRegex(pathRegex(glob));
      const g = compileGlob(glob);
      for (const p of yes) expect([p, re.test(p), g.matches(p)]).toEqual([p, true, true]);
      for (const p of no) expect([p, re.test(p), g.matches(p)]).toEqual([p, false, false]);
    });
});

describe('examples/policies: each tool default, hand-written, equals its import', () => {
  const canonicalSpec = (value: unknown): unknown => {
    const r = loadPolicyValue(value);
    expect(r.ok).toBe(true);
    return r.canonical?.spec;
  };
  const cases: [string, string, ImportSource, ImportInput[]][] = [
    [
      'earlyoom-default.yaml',
      earlyoomExample,
      'earlyoom',
      [{ name: 'command line', text: 'earlyoom' }],
    ],
    [
      'systemd-oomd-default.yaml',
      systemdExample,
      'systemd-oomd',
      [
        { name: '/etc/systemd/oomd.conf', text: '[OOM]\n#SwapUsedLimit=90%\n' },
        {
          name: '/usr/lib/systemd/system/-.slice.d/10-oomd-root-slice-defaults.conf',
          text: '[Slice]\nManagedOOMSwap=kill\n',
        },
        {
          name: '/usr/lib/systemd/system/user@.service.d/10-oomd-user-service-defaults.conf',
          text: '[Service]\nManagedOOMMemoryPressure=kill\nManagedOOMMemoryPressureLimit=50%\n',
        },
      ],
    ],
    [
      'oomd-default.yaml',
      oomdExample,
      'oomd',
      [{ name: '/etc/oomd/oomd.json', text: oomdDesktop }],
    ],
  ];
  for (const [file, text, from, inputs] of cases)
    it(`${file} validates and matches --from ${from}`, () => {
      const example = loadPolicy(text);
      expect(example.issues).toEqual([]);
      expect(example.ok).toBe(true);
      expect(text).toMatch(/^# .* default behaviour as an oomfleet policy\.\n#\n# Mirrors /);
      expect(example.canonical?.spec).toEqual(canonicalSpec(importPolicy(from, inputs).document));
    });
});
