// Every code of the error catalogue is documented in docs/api.md with its
// status, and the documentation names no code the catalogue lacks (as
// fastify's test/internals/errors.test.js does for its own errors).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiError, ERRORS, isDatabaseUnavailable, problem, type ErrorCode } from './errors.ts';

const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
const errorsSection = doc.slice(doc.indexOf('## Errors'));
const documented = new Map(
  [...errorsSection.matchAll(/^\|\s*`([a-z-]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [
    m[1] ?? '',
    Number(m[2]),
  ]),
);

describe('error catalogue', () => {
  it.each(Object.entries(ERRORS))('%s is documented with its status', (code, spec) => {
    expect(documented.get(code)).toBe(spec.status);
  });

  it('documents no code the catalogue lacks', () => {
    expect([...documented.keys()].filter((c) => !(c in ERRORS))).toEqual([]);
  });

  it('codes are kebab-case and titles are set', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(spec.title.length).toBeGreaterThan(0);
    }
  });

  it('problem() and ApiError carry code, status and type', () => {
    const e = new ApiError('group-not-found', 'no group x');
    expect(e.status).toBe(404);
    expect(problem(e.code, e.message)).toEqual({
      type: 'urn:oomfleet:problem:group-not-found',
      title: ERRORS['group-not-found'].title,
      status: 404,
      code: 'group-not-found' satisfies ErrorCode,
      detail: 'no group x',
    });
  });

  it('recognises PostgreSQL being unreachable', () => {
    expect(isDatabaseUnavailable({ code: 'P1001' })).toBe(true);
    expect(isDatabaseUnavailable({ code: 'ECONNREFUSED' })).toBe(true);
    expect(isDatabaseUnavailable({ code: '57P01' })).toBe(true);
    expect(
      isDatabaseUnavailable(new Error('x', { cause: new Error('Connection terminated') })),
    ).toBe(true);
    expect(isDatabaseUnavailable({ code: 'P2002' })).toBe(false);
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
  });
});
