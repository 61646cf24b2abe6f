// Structural validation against the schema: unknown keys, missing keys, wrong
// types. TypeBox finds them; this module turns its findings into issues that
// name the field and say how to fix it.
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { PathSegment } from './parse.ts';

export interface RawIssue {
  path: PathSegment[];
  message: string;
  hint: string;
  /** Point at the key rather than the value (unknown keys). */
  atKey?: boolean;
  /** Warnings are reported but do not make a document invalid. */
  severity?: 'warning';
}

function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

const KIND_HINTS: Record<string, string> = {
  Size: 'write bytes as an integer, or a number with Ki, Mi, Gi, Ti or Pi, e.g. 512Mi',
  SizeOrPercent: 'write a size such as 8Gi, or a percentage such as "90%"',
  Limit: 'write a size such as 8Gi, a percentage such as "90%", or max',
  Duration: 'write a duration such as 500ms, 10s, 1m30s or 2h',
  Percent: 'write a percentage such as 30 or "30%"',
};

function propertyNames(schema: TSchema): string[] {
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  return props ? Object.keys(props) : [];
}

/** Closest known name by edit distance, for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min(
        (row[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${JSON.stringify(value) ?? 'undefined'}`;
}

function literalChoices(schema: TSchema): string[] | undefined {
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!anyOf) return undefined;
  const consts = anyOf.map((s) => (s as { const?: unknown }).const);
  return consts.every((c): c is string => typeof c === 'string') ? consts : undefined;
}

function translate(
  e: ValueError,
  parentSchema: (path: PathSegment[]) => TSchema | undefined,
): RawIssue | undefined {
  const path = pointerToPath(e.path);
  const schema = e.schema;
  const title = (schema as { title?: string }).title;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const key = String(path[path.length - 1]);
      const known = propertyNames(parentSchema(path.slice(0, -1)) ?? schema);
      const guess = closest(key, known);
      return {
        path,
        atKey: true,
        message: `unknown field "${key}"`,
        hint: guess
          ? `did you mean "${guess}"? Known fields here: ${known.join(', ')}`
          : `remove it; known fields here: ${known.join(', ')}`,
      };
    }
    case ValueErrorType.ObjectRequiredProperty: {
      const key = String(path[path.length - 1]);
      return { path, message: `missing required field "${key}"`, hint: `add "${key}"` };
    }
    case ValueErrorType.ObjectMinProperties:
    case ValueErrorType.ObjectMaxProperties: {
      const known = propertyNames(schema);
      const present = e.value && typeof e.value === 'object' ? Object.keys(e.value) : [];
      const desc = (schema as { description?: string }).description ?? '';
      return {
        path,
        message:
          present.length === 0
            ? 'is empty'
            : `has ${present.length} of the exclusive fields (${present.join(', ')})`,
        hint: `${desc || 'choose one'} Choices: ${known.join(', ')}`.trim(),
      };
    }
    case ValueErrorType.Union: {
      // Sizes, durations and percentages get their precise message (with a
      // "did you mean") from the unit parser in the meaning checks.
      if (title && KIND_HINTS[title]) return undefined;
      const choices = literalChoices(schema);
      if (choices)
        return {
          path,
          message: `${describe(e.value)} is not one of ${choices.join(', ')}`,
          hint: (() => {
            const g = typeof e.value === 'string' ? closest(e.value, choices) : undefined;
            return g ? `did you mean ${g}?` : `use one of ${choices.join(', ')}`;
          })(),
        };
      return {
        path,
        message: `${describe(e.value)} is not a valid ${title ?? 'value'}`,
        hint: (title && KIND_HINTS[title]) ?? 'see docs/policy.md for the accepted forms',
      };
    }
    case ValueErrorType.Literal:
      return {
        path,
        message: `${describe(e.value)} is not ${JSON.stringify((schema as { const?: unknown }).const)}`,
        hint: `write ${JSON.stringify((schema as { const?: unknown }).const)}`,
      };
    case ValueErrorType.StringPattern: {
      if (title && KIND_HINTS[title]) {
        // Sizes and durations get their precise message from the unit parser later.
        return undefined;
      }
      const last = path[path.length - 1];
      if (last === 'name')
        return {
          path,
          message: `${describe(e.value)} is not a valid name`,
          hint: 'use lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
        };
      return { path, message: `${describe(e.value)} has the wrong form`, hint: e.message };
    }
    case ValueErrorType.ArrayMinItems:
      return {
        path,
        message: 'is an empty list',
        hint: 'give at least one entry or remove the field',
      };
    case ValueErrorType.ArrayMaxItems:
      return { path, message: 'has too many entries', hint: e.message.replace('Expected', 'use') };
    case ValueErrorType.StringMaxLength:
      return { path, message: 'is too long', hint: e.message.replace('Expected', 'use a string') };
    default: {
      const expected = e.message.replace(/^Expected /, '');
      return {
        path,
        message: `${describe(e.value)} is not ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}`,
        hint:
          title && KIND_HINTS[title]
            ? KIND_HINTS[title]
            : `write ${expected === 'boolean' ? 'true or false' : `${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}`}`,
      };
    }
  }
}

/** Walks a schema along a value path (objects, arrays, recursive refs). */
function schemaAt(root: TSchema, path: PathSegment[]): TSchema | undefined {
  let s: TSchema | undefined = root;
  const recursive = new Map<string, TSchema>();
  for (const seg of path) {
    if (!s) return undefined;
    if ((s as { $id?: string }).$id) recursive.set((s as { $id: string }).$id, s);
    const ref = (s as { $ref?: string }).$ref;
    if (ref) s = recursive.get(ref);
    if (!s) return undefined;
    if (typeof seg === 'number') s = (s as { items?: TSchema }).items;
    else s = (s as { properties?: Record<string, TSchema> }).properties?.[seg];
    const r2 = s && (s as { $ref?: string }).$ref;
    if (r2) s = recursive.get(r2);
  }
  return s;
}

export function structuralIssues(schema: TSchema, value: unknown): RawIssue[] {
  const out: RawIssue[] = [];
  const seen = new Set<string>();
  const missing = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    // A missing field is reported once, as missing, not again as "undefined is not a …".
    if (e.type === ValueErrorType.ObjectRequiredProperty) missing.add(e.path);
    else if (e.value === undefined && missing.has(e.path)) continue;
    const issue = translate(e, (p) => schemaAt(schema, p));
    if (!issue) continue;
    const key = `${JSON.stringify(issue.path)}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
    if (out.length >= 200) break;
  }
  return out;
}
