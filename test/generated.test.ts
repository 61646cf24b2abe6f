// Generated files are committed; this fails when `npm run gen` would change one,
// and checks the exported JSON Schema with an independent validator (ajv),
// as an editor would use it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../scripts/gen.ts';

const root = join(import.meta.dirname, '..');

describe('generated files', () => {
  for (const [rel, text] of Object.entries(generatedFiles())) {
    it(`${rel} is up to date (run npm run gen)`, () => {
      expect(readFileSync(join(root, rel), 'utf8')).toBe(text);
    });
  }
});

describe('exported policy JSON Schema', () => {
  const schema = JSON.parse(
    readFileSync(join(root, 'schemas/policy.schema.json'), 'utf8'),
  ) as object;
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);

  it('accepts every example policy', () => {
    const dir = join(root, 'examples/policies');
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const ok = validate(parseYaml(readFileSync(join(dir, f), 'utf8')));
      expect({ file: f, ok, errors: validate.errors }).toMatchObject({ file: f, ok: true });
    }
  });

  it('rejects unknown fields and malformed sizes, including inside nested conditions', () => {
    const base = {
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'x' },
      spec: {
        rules: [
          {
            name: 'r',
            scope: '/a',
            when: { any: [{ usage: { above: '90%' } }] },
            action: { notify: {} },
          },
        ],
      },
    };
    expect(validate(base)).toBe(true);
    expect(validate({ ...base, spec: { ...base.spec, bogus: 1 } })).toBe(false);
    const nested = structuredClone(base);
    (nested.spec.rules[0] as { when: unknown }).when = {
      any: [{ all: [{ usage: { above: '5G' } }] }],
    };
    expect(validate(nested)).toBe(false);
  });
});
