// Every file in test/fixtures/invalid is a policy with one class of error.
// Its expectations are comment lines at the top of the file,
//
//   # expect: <path> <line>:<column>
//
// one per error that must be reported (`""` is the document itself, for
// syntax errors). JSON has no comments, so a JSON fixture keeps its
// expectations in a sibling `<file>.expect` file of the same form. The CLI
// acceptance runs `oomfleet policy validate test/fixtures/invalid/*` on the
// same files and expects exit status 1 with path and line:column.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { loadPolicy } from '../services/policy/load-text.ts';

const dir = join(import.meta.dirname, 'fixtures', 'invalid');

interface Expectation {
  path: string;
  line: number;
  column: number;
}

const EXPECT_LINE = /^#\s*expect:\s*(\S+)\s+(\d+):(\d+)\s*$/;

/** The `# expect:` lines at the top of `text` (leading comment lines only). */
function readExpectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('#')) break;
    const m = EXPECT_LINE.exec(line);
    if (!m) continue;
    const [, path = '', l = '0', c = '0'] = m;
    out.push({ path: path === '""' ? '' : path, line: Number(l), column: Number(c) });
  }
  return out;
}

const fixtures = readdirSync(dir)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

describe('invalid fixtures', () => {
  it('exist: one per class of error, YAML and JSON', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
    expect(fixtures.some((f) => f.endsWith('.json'))).toBe(true);
    // Every .expect file belongs to a JSON fixture.
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.expect')))
      expect(fixtures).toContain(f.replace(/\.expect$/, ''));
  });

  it.each(fixtures)('%s reports every expected error at its path and line:column', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const expectations = file.endsWith('.json')
      ? readExpectations(readFileSync(join(dir, `${file}.expect`), 'utf8'))
      : readExpectations(text);
    expect(expectations.length, `${file} has no "# expect:" lines`).toBeGreaterThan(0);

    const r = loadPolicy(text);
    expect(r.ok).toBe(false);
    const errors = r.issues.filter((i) => i.severity === 'error');
    const got = errors.map((i) => `${i.path || '""'} ${i.line}:${i.column}  ${i.message}`);
    for (const e of expectations) {
      const hit = errors.find(
        (i) => i.path === e.path && i.line === e.line && i.column === e.column,
      );
      expect(
        hit,
        `${file}: expected an error at ${e.path || '""'} ${e.line}:${e.column}; got:\n${got.join('\n')}`,
      ).toBeDefined();
      expect(hit?.message).toBeTruthy();
      expect(hit?.hint).toBeTruthy();
    }
    // And nothing unexpected: every error in a fixture is at a place it announces.
    const places = new Set(errors.map((i) => `${i.path} ${i.line}:${i.column}`));
    expect(places.size, got.join('\n')).toBe(expectations.length);
  });
});

describe('readExpectations', () => {
  it('reads leading expectation lines only', () => {
    expect(
      readExpectations(
        '# expect: spec.interval 7:13\n# expect: "" 1:1\n# note\nkind: x\n# expect: a 1:1\n',
      ),
    ).toEqual([
      { path: 'spec.interval', line: 7, column: 13 },
      { path: '', line: 1, column: 1 },
    ]);
  });
});
