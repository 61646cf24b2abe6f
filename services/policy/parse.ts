// Text → plain value, with a map from JSON paths back to line:column.
// JSON is parsed by the same YAML 1.2 parser (JSON is valid YAML), so both
// formats get positions. Caps on size, nesting and aliases keep hostile input
// from exhausting the validator.
import {
  Composer,
  LineCounter,
  Parser,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type CST,
  type Document,
  type Node,
} from 'yaml';
import type { PolicyIssue } from './issues.ts';

export const MAX_DOCUMENT_BYTES = 1024 * 1024;
export { MAX_DEPTH } from './depth.ts';
import { MAX_DEPTH } from './depth.ts';
export const MAX_ALIASES = 64;

/**
 * How policy YAML is read everywhere (validation and fmt): YAML 1.2 core
 * schema, no merge keys, duplicate keys are errors, keys are strings.
 */
export const YAML_OPTIONS = {
  prettyErrors: false,
  uniqueKeys: true,
  schema: 'core',
  merge: false,
  strict: true,
  stringKeys: true,
} as const;

export type PathSegment = string | number;

export interface Position {
  line: number;
  column: number;
}

export interface SourceMap {
  /** Position of the value at `path`, or of its key when `key` is set; falls back to the nearest ancestor. */
  locate(path: readonly PathSegment[], key?: boolean): Position | undefined;
}

export interface ParsedText {
  value: unknown;
  sourceMap: SourceMap;
  format: 'yaml' | 'json';
}

export function detectFormat(text: string): 'yaml' | 'json' {
  return /^\s*[{[]/.test(text) ? 'json' : 'yaml';
}

/**
 * Nesting depth of the token tree, measured without recursion and before any
 * document is built: the YAML composer recurses, so a document nested a few
 * thousand levels deep would overflow the stack (and can abort V8) if it were
 * composed first.
 */
function tokenDepth(tokens: readonly CST.Token[]): number {
  let max = 0;
  const stack: [unknown, number][] = tokens.map((t) => [t, 0]);
  while (stack.length > 0) {
    const top = stack.pop();
    if (!top) break;
    const [t, d] = top;
    if (!t || typeof t !== 'object') continue;
    const tok = t as {
      type?: string;
      value?: unknown;
      items?: { key?: unknown; value?: unknown }[];
    };
    const collection =
      tok.type === 'block-map' || tok.type === 'block-seq' || tok.type === 'flow-collection';
    const depth = collection ? d + 1 : d;
    if (depth > max) max = depth;
    if (max > MAX_DEPTH) return max;
    if (tok.type === 'document' && tok.value) stack.push([tok.value, depth]);
    for (const it of tok.items ?? []) {
      if (it.key) stack.push([it.key, depth]);
      if (it.value) stack.push([it.value, depth]);
    }
  }
  return max;
}

export function parseText(text: string): { parsed?: ParsedText; issues: PolicyIssue[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_DOCUMENT_BYTES)
    return {
      issues: [
        {
          path: '',
          message: `document is ${bytes} bytes, more than the ${MAX_DOCUMENT_BYTES} allowed`,
          hint: 'split it or remove unused parts; policies are usually a few KiB',
        },
      ],
    };
  const format = detectFormat(text);
  const lineCounter = new LineCounter();
  const tokens = [...new Parser(lineCounter.addNewLine).parse(text)];
  if (tokenDepth(tokens) > MAX_DEPTH)
    return {
      issues: [
        {
          path: '',
          message: `document nests deeper than ${MAX_DEPTH} levels`,
          hint: 'flatten the conditions',
        },
      ],
    };
  const docs: Document.Parsed[] = [...new Composer(YAML_OPTIONS).compose(tokens)];
  const toPos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const doc = docs[0];
  // An empty file (or one with only comments) holds no document: its value is null.
  if (!doc)
    return { parsed: { value: null, sourceMap: { locate: () => undefined }, format }, issues: [] };
  const issues: PolicyIssue[] = [];
  const second = docs[1];
  if (second)
    issues.push({
      path: '',
      ...toPos(second.range[0]),
      message: 'the file holds more than one YAML document',
      hint: 'put one policy in each file',
    });
  for (const e of doc.errors) {
    const pos = toPos(e.pos[0]);
    issues.push({
      path: '',
      line: pos.line,
      column: pos.column,
      message: `${format === 'json' ? 'JSON' : 'YAML'} syntax: ${e.message.split('\n')[0] ?? e.code}`,
      hint: hintForSyntax(e.code),
    });
  }
  if (issues.length > 0) return { issues };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return {
      issues: [
        {
          path: '',
          message: `document cannot be read: ${(err as Error).message}`,
          hint: `use at most ${MAX_ALIASES} YAML aliases and no recursive ones`,
        },
      ],
    };
  }
  const sourceMap: SourceMap = {
    locate(path, key = false) {
      for (let n = path.length; n >= 0; n--) {
        const sub = path.slice(0, n);
        const node = findNode(doc.contents, sub, key && n === path.length);
        if (node?.range) return toPos(node.range[0]);
      }
      return undefined;
    },
  };
  return { parsed: { value, sourceMap, format }, issues };
}

function findNode(root: unknown, path: readonly PathSegment[], wantKey: boolean): Node | undefined {
  let node: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) return undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return undefined;
      if (wantKey && i === path.length - 1) return pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else return undefined;
  }
  return node as Node | undefined;
}

function hintForSyntax(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping; remove or merge the duplicate';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation and that every mapping key ends with ":"';
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    default:
      return 'fix the syntax at this position';
  }
}
