// `oomfleet policy fmt`: rewrites a policy document into its normal written
// form without changing what it means (the digest of the output equals the
// digest of the input) and without filling in defaults (fmt keeps what the
// author wrote).
//
// - keys in schema order at every level, read from the TypeBox schema's
//   `properties` (the recursive Condition schema included);
// - sizes with the largest exact binary unit (8589934592 → 8Gi, 1024Mi → 1Gi;
//   sizes below 1Ki or with no exact unit stay integers);
// - durations in normal form (90s → 1m30s);
// - percentages as "NN%" strings, also where a bare number is allowed
//   (pressure.above: 30 → "30%"), so every percentage reads the same way;
// - cgroup globs and scopes normalised as the canonical form does.
//
// YAML is edited in place through the `yaml` Document AST so comments, blank
// lines and flow/block styles survive; JSON comes out with 2-space indent.
import type { TSchema } from '@sinclair/typebox';
import {
  Alias,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Document,
  type Pair,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { normalizeGlob } from './glob.ts';
import type { PolicyIssue } from './issues.ts';
import { loadPolicy } from './load-text.ts';
import { detectFormat, YAML_OPTIONS } from './parse.ts';
import { PolicySchema } from './schema.ts';
import {
  formatDuration,
  formatPercent,
  formatSize,
  isPercentString,
  parseDuration,
  parsePercent,
  parseSize,
} from './units.ts';

export interface FormatResult {
  ok: boolean;
  /** The formatted document, when ok. */
  text?: string;
  /** Whether `text` differs from the input. */
  changed?: boolean;
  /** Errors when not ok; warnings (if any) when ok. */
  issues: PolicyIssue[];
}

// ---- walking the schema ----

interface Cursor {
  schema: TSchema | undefined;
  /** Schemas with an $id seen on the way down, for $ref (the recursive Condition). */
  refs: ReadonlyMap<string, TSchema>;
}

function resolve(c: Cursor): Cursor {
  let schema = c.schema;
  let refs = c.refs;
  const ref = (schema as { $ref?: string } | undefined)?.$ref;
  if (ref !== undefined) schema = refs.get(ref);
  const id = (schema as { $id?: string } | undefined)?.$id;
  if (schema && id !== undefined && refs.get(id) !== schema)
    refs = new Map([...refs, [id, schema]]);
  return { schema, refs };
}

function propertiesOf(c: Cursor): Record<string, TSchema> | undefined {
  return (c.schema as { properties?: Record<string, TSchema> } | undefined)?.properties;
}

function propertyCursor(c: Cursor, key: string): Cursor {
  return resolve({ schema: propertiesOf(c)?.[key], refs: c.refs });
}

function itemCursor(c: Cursor): Cursor {
  return resolve({ schema: (c.schema as { items?: TSchema } | undefined)?.items, refs: c.refs });
}

function keyOrder(c: Cursor): string[] {
  return Object.keys(propertiesOf(c) ?? {});
}

const ROOT: Cursor = resolve({ schema: PolicySchema, refs: new Map() });

// ---- normal forms of leaf values ----

type LeafKind =
  'Size' | 'SizeOrPercent' | 'Limit' | 'Duration' | 'Percent' | 'CgroupGlob' | 'Scope';
const LEAF_KINDS = new Set<string>([
  'Size',
  'SizeOrPercent',
  'Limit',
  'Duration',
  'Percent',
  'CgroupGlob',
  'Scope',
]);

function leafKind(c: Cursor): LeafKind | undefined {
  const title = (c.schema as { title?: string } | undefined)?.title;
  return title !== undefined && LEAF_KINDS.has(title) ? (title as LeafKind) : undefined;
}

function normalSize(v: unknown): number | string {
  const text = formatSize(parseSize(v));
  return /^[0-9]+$/.test(text) ? Number(text) : text;
}

function normalLeaf(kind: LeafKind, v: unknown): unknown {
  switch (kind) {
    case 'Size':
      return normalSize(v);
    case 'Limit':
      if (v === 'max') return v;
      return isPercentString(v) ? formatPercent(parsePercent(v)) : normalSize(v);
    case 'SizeOrPercent':
      return isPercentString(v) ? formatPercent(parsePercent(v)) : normalSize(v);
    case 'Percent':
      return formatPercent(parsePercent(v));
    case 'Duration':
      return formatDuration(parseDuration(v));
    case 'Scope':
      return v === 'global' ? v : normalizeGlob(String(v));
    case 'CgroupGlob':
      return normalizeGlob(String(v));
  }
}

/** The normal form of `v`, or `v` itself when it cannot be read (validation has the final word). */
function tryNormalLeaf(kind: LeafKind, v: unknown): unknown {
  if (typeof v !== 'string' && typeof v !== 'number') return v;
  try {
    return normalLeaf(kind, v);
  } catch {
    return v;
  }
}

function rank(order: readonly string[], key: string): number {
  const i = order.indexOf(key);
  return i < 0 ? order.length : i;
}

// ---- plain values (JSON) ----

function formatValue(v: unknown, c: Cursor): unknown {
  if (Array.isArray(v)) {
    const ic = itemCursor(c);
    return v.map((x) => formatValue(x, ic));
  }
  if (v !== null && typeof v === 'object') {
    const order = keyOrder(c);
    const entries = Object.entries(v as Record<string, unknown>);
    const sorted = entries
      .map((e, i) => ({ e, i }))
      .sort((x, y) => rank(order, x.e[0]) - rank(order, y.e[0]) || x.i - y.i);
    const out: Record<string, unknown> = {};
    for (const { e } of sorted) out[e[0]] = formatValue(e[1], propertyCursor(c, e[0]));
    return out;
  }
  const kind = leafKind(c);
  return kind ? tryNormalLeaf(kind, v) : v;
}

// ---- YAML AST ----

type Parent = 'root' | 'seq' | 'pair';

const keyText = (p: Pair): string => (isScalar(p.key) ? String(p.key.value) : String(p.key));
const commentLines = (s: string | null | undefined): string[] =>
  s === null || s === undefined || s === '' ? [] : s.split('\n');
/** Joins comment lines back, one blank line at most between them (as the parser reads them back). */
const joinComment = (lines: string[]): string | undefined => {
  const kept = lines.filter((l, i) => l !== '' || (i > 0 && lines[i - 1] !== ''));
  return kept.length > 0 ? kept.join('\n') : undefined;
};

/**
 * The parser puts a comment written on a key's own line ("spec: # …") at the
 * head of the block collection below it. Gives it back to the key, where the
 * printer writes it on the key's line again, and returns the other lines.
 */
function keepKeyLineComment(
  node: YAMLMap | YAMLSeq,
  parentKey: Scalar | undefined,
  src: string,
): string[] {
  const lines = commentLines(node.commentBefore);
  const keyEnd = parentKey?.range?.[1];
  const start = node.range?.[0];
  if (!parentKey || parentKey.comment || keyEnd === undefined || start === undefined) return lines;
  const sameLine = src.slice(keyEnd, start).split('\n')[0] ?? '';
  if (!sameLine.includes('#') || lines.length === 0) return lines;
  parentKey.comment = lines[0];
  return lines.slice(1);
}

/**
 * Sorts a mapping's pairs into schema order, keeping comments with the keys
 * they were written above. The `yaml` parser puts a comment written above
 * the first key of a nested block mapping on the mapping itself (together
 * with a comment on the parent key's line), so before sorting those are
 * given back: the line comment to the parent key, the others to the first key.
 * Lines above the old first key that end in a blank line head the mapping (a
 * file header, a section title) and stay at the top.
 */
function sortMap(
  map: YAMLMap,
  order: readonly string[],
  parent: Parent,
  parentKey: Scalar | undefined,
  src: string,
): void {
  const items = map.items;
  if (parent === 'pair' && !map.flow && map.commentBefore) {
    const lines = keepKeyLineComment(map, parentKey, src);
    const first = items[0];
    if (first && isScalar(first.key)) {
      first.key.commentBefore = joinComment([...lines, ...commentLines(first.key.commentBefore)]);
      map.commentBefore = undefined;
    } else map.commentBefore = joinComment(lines);
  }

  const sorted = items
    .map((p, i) => ({ p, i }))
    .sort((x, y) => rank(order, keyText(x.p)) - rank(order, keyText(y.p)) || x.i - y.i)
    .map(({ p }) => p);
  const oldFirst = items[0];
  const newFirst = sorted[0];
  map.items = sorted;

  if (oldFirst && newFirst && oldFirst !== newFirst) {
    if (parent !== 'seq' && isScalar(oldFirst.key)) {
      const lines = commentLines(oldFirst.key.commentBefore);
      const blank = lines.lastIndexOf('');
      if (blank >= 0) {
        const header = lines.slice(0, blank);
        oldFirst.key.commentBefore = joinComment(lines.slice(blank + 1));
        if (isScalar(newFirst.key) && header.length > 0)
          newFirst.key.commentBefore = joinComment([
            ...header,
            '',
            ...commentLines(newFirst.key.commentBefore),
          ]);
      }
    }
    if (isScalar(newFirst.key)) newFirst.key.spaceBefore = false;
  }

  for (const p of map.items)
    if (isScalar(p.key) && p.key.commentBefore)
      p.key.commentBefore = joinComment(commentLines(p.key.commentBefore));

  // In a sequence item the printer puts a first key's comment after the "-";
  // reading that back attaches it to the item, so attach it there now.
  const first = map.items[0];
  if (parent === 'seq' && !map.flow && first && isScalar(first.key) && first.key.commentBefore) {
    map.commentBefore = joinComment([
      ...commentLines(map.commentBefore),
      ...commentLines(first.key.commentBefore),
    ]);
    first.key.commentBefore = undefined;
  }
}

function formatNode(
  node: unknown,
  c: Cursor,
  parent: Parent,
  parentKey: Scalar | undefined,
  src: string,
): void {
  // An alias shares its anchor's node, which is formatted where it is defined.
  if (isAlias(node)) return;
  if (isMap(node)) {
    sortMap(node, keyOrder(c), parent, parentKey, src);
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key : undefined;
      formatNode(pair.value, propertyCursor(c, keyText(pair)), 'pair', key, src);
    }
    return;
  }
  if (isSeq(node)) {
    if (parent === 'pair' && !node.flow && node.commentBefore)
      node.commentBefore = joinComment(keepKeyLineComment(node, parentKey, src));
    const ic = itemCursor(c);
    for (const item of node.items) formatNode(item, ic, 'seq', undefined, src);
    return;
  }
  if (isPair(node) || !isScalar(node)) return;
  // An anchored scalar may be used elsewhere under another kind; leave it.
  if (node.anchor) return;
  const kind = leafKind(c);
  if (!kind) return;
  const next = tryNormalLeaf(kind, node.value);
  if (next === node.value) return;
  if (typeof next !== typeof node.value) {
    // A number becoming "8Gi" (or a quoted "512" becoming 512): let the printer choose the style.
    node.type = undefined;
    node.format = undefined;
  }
  node.value = next;
}

interface Slot {
  get: () => unknown;
  set: (v: unknown) => void;
}

function childSlots(node: unknown): Slot[] {
  if (isMap(node))
    return node.items.map((pair) => ({
      get: () => pair.value,
      set: (v) => {
        pair.value = v;
      },
    }));
  if (isSeq(node))
    return node.items.map((_, i) => ({
      get: () => node.items[i],
      set: (v) => {
        node.items[i] = v;
      },
    }));
  return [];
}

/**
 * Sorting keys can put an alias before its anchor, which YAML forbids. Where
 * it did, the anchored node moves to the alias's place and an alias takes its
 * old one (they are the same node, so the value read is unchanged); comments
 * and blank lines stay where they were written. Returns false when the
 * document defines one anchor name twice, where that is not safe.
 */
function fixAliasOrder(doc: Document): boolean {
  const anchors = new Map<string, { node: Scalar | YAMLMap | { anchor?: string }; slot: Slot }>();
  let duplicate = false;
  const collect = (slot: Slot): void => {
    const node = slot.get();
    if (isAlias(node)) return;
    if ((isMap(node) || isSeq(node) || isScalar(node)) && node.anchor) {
      if (anchors.has(node.anchor)) duplicate = true;
      anchors.set(node.anchor, { node, slot });
    }
    for (const s of childSlots(node)) collect(s);
  };
  const rootSlot: Slot = {
    get: () => doc.contents,
    set: (v) => {
      doc.contents = v as typeof doc.contents;
    },
  };
  collect(rootSlot);
  if (anchors.size === 0) return true;
  if (duplicate) return false;
  const seen = new Set<string>();
  const visit = (slot: Slot): void => {
    const node = slot.get();
    if (isAlias(node)) {
      const entry = anchors.get(node.source);
      if (seen.has(node.source) || !entry) return;
      const target = entry.node as Scalar;
      const alias = new Alias(node.source);
      // The written positions keep their comments and spacing.
      alias.commentBefore = target.commentBefore;
      alias.comment = target.comment;
      alias.spaceBefore = target.spaceBefore;
      target.commentBefore = node.commentBefore;
      target.comment = node.comment;
      target.spaceBefore = node.spaceBefore;
      slot.set(target);
      entry.slot.set(alias);
      entry.slot = slot;
      visit(slot);
      return;
    }
    if ((isMap(node) || isSeq(node) || isScalar(node)) && node.anchor) seen.add(node.anchor);
    for (const s of childSlots(node)) visit(s);
  };
  visit(rootSlot);
  return true;
}

function formatYaml(text: string): { text: string } | { error: PolicyIssue } {
  const doc = parseDocument(text, YAML_OPTIONS);
  formatNode(doc.contents, ROOT, 'root', undefined, text);
  if (!fixAliasOrder(doc))
    return {
      error: {
        path: '',
        message: 'the document defines the same YAML anchor name more than once',
        hint: 'give each anchor its own name; fmt cannot reorder keys safely otherwise',
        severity: 'error',
      },
    };
  return { text: doc.toString({ lineWidth: 0 }) };
}

function formatJson(value: unknown): string {
  return `${JSON.stringify(formatValue(value, ROOT), null, 2)}\n`;
}

/**
 * JSON in, JSON out. A YAML document whose root is a flow mapping also starts
 * with "{"; unless it is strict JSON it stays YAML, comments and all.
 */
function isJson(text: string): boolean {
  if (detectFormat(text) !== 'json') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export function formatPolicyText(text: string): FormatResult {
  const loaded = loadPolicy(text);
  if (!loaded.ok || loaded.digest === undefined) return { ok: false, issues: loaded.issues };
  let out: string;
  try {
    const r = isJson(text) ? { text: formatJson(loaded.document) } : formatYaml(text);
    if ('error' in r) return { ok: false, issues: [r.error] };
    out = r.text;
  } catch (err) {
    return {
      ok: false,
      issues: [
        {
          path: '',
          message: `internal error while formatting: ${err instanceof Error ? err.message : String(err)}`,
          hint: 'please report this document as a bug; the file was left as it is',
          severity: 'error',
        },
      ],
    };
  }
  // fmt must never change meaning; refuse rather than write a different policy.
  const check = loadPolicy(out);
  if (!check.ok || check.digest !== loaded.digest)
    return {
      ok: false,
      issues: [
        {
          path: '',
          message: 'formatting would change the meaning of this document',
          hint: 'please report this document as a bug; the file was left as it is',
          severity: 'error',
        },
      ],
    };
  return { ok: true, text: out, changed: out !== text, issues: loaded.issues };
}
