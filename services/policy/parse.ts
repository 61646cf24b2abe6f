// Text → plain value, with a map from JSON paths back to line:column.
// JSON is parsed by the same YAML 1.2 parser (JSON is valid YAML), so both
// formats get positions. Caps on size, nesting and aliases keep hostile input
// from exhausting the validator.
import {
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  type Node,
} from 'yaml';
import type { PolicyIssue } from './issues.ts';

export const MAX_DOCUMENT_BYTES = 1024 * 1024;
export const MAX_DEPTH = 32;
export const MAX_ALIASES = 64;

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

function depthOf(node: unknown, depth: number): number {
  if (depth > MAX_DEPTH) return depth;
  if (isMap(node) || isSeq(node)) {
    let max = depth;
    for (const item of node.items) {
      const child = isPair(item) ? item.value : item;
      max = Math.max(max, depthOf(child, depth + 1));
      if (max > MAX_DEPTH) break;
    }
    return max;
  }
  return depth;
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
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    schema: 'core',
    merge: false,
    strict: true,
    stringKeys: true,
  });
  const toPos = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const issues: PolicyIssue[] = [];
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
  if (depthOf(doc.contents, 0) > MAX_DEPTH)
    return {
      issues: [
        {
          path: '',
          message: `document nests deeper than ${MAX_DEPTH} levels`,
          hint: 'flatten the conditions',
        },
      ],
    };
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
