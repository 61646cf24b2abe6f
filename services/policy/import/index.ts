// `oomfleet policy import`: another OOM killer's configuration in, an
// equivalent oomfleet policy document out. Pure library code: the CLI reads
// the files and passes their text in. One importer per tool, each naming at
// its top the documentation it follows:
//   oomd.ts          facebookincubator/oomd JSON configs
//   systemd-oomd.ts  oomd.conf(5) and units' ManagedOOM*= settings
//   earlyoom.ts      an earlyoom command line or /etc/default/earlyoom
// Nothing is dropped silently: what has no oomfleet equivalent is listed in
// `untranslated` (source, item, reason) and approximations are explained in
// `notes`. The document always validates; a translation that does not is a
// bug here, and is refused rather than handed out.
import { loadPolicyValue } from '../load.ts';
import type { PolicyDocument, Rule } from '../schema.ts';
import { importEarlyoom } from './earlyoom.ts';
import { importOomd } from './oomd.ts';
import { importSystemdOomd } from './systemd-oomd.ts';

export type ImportSource = 'oomd' | 'systemd-oomd' | 'earlyoom';

/** A file name (tells oomd.conf from units, and names the unit) and its text. */
export interface ImportInput {
  name: string;
  text: string;
}

export interface Untranslated {
  /** Where the item came from: file (and line), ruleset, or command line. */
  source: string;
  item: string;
  reason: string;
}

export interface ImportResult {
  document: PolicyDocument;
  untranslated: Untranslated[];
  notes: string[];
}

/** Input that cannot be read at all: bad JSON, an unknown flag, a value out of range. */
export class ImportError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ImportError';
  }
}

export type ImportSpec = PolicyDocument['spec'];

/**
 * What an importer is handed. Passed in rather than imported so that the
 * importers never import this module at run time (no import cycle).
 */
export interface ImportContext {
  /** Refuse the input; the message names the item, the hint says how to fix it. */
  fail(message: string, hint: string): never;
  untranslated(source: string, item: string, reason: string): void;
  note(text: string): void;
  /** An anchored regex matching exactly the cgroup paths a glob matches (for prefer/avoid). */
  pathRegex(glob: string): string;
}

export interface Translation {
  spec: ImportSpec;
  description: string;
}

export type Importer = (inputs: readonly ImportInput[], ctx: ImportContext) => Translation;

const IMPORTERS: Record<ImportSource, Importer> = {
  oomd: importOomd,
  'systemd-oomd': importSystemdOomd,
  earlyoom: importEarlyoom,
};

const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_DESCRIPTION = 4096;

export function importPolicy(
  from: ImportSource,
  inputs: ImportInput[],
  options: { name?: string } = {},
): ImportResult {
  const importer = (IMPORTERS as Partial<Record<string, Importer>>)[from];
  if (!importer)
    throw new ImportError(
      `unknown import source ${JSON.stringify(from)}`,
      'use --from oomd, --from systemd-oomd or --from earlyoom',
    );
  const name = options.name ?? `${from}-import`;
  if (!NAME_RE.test(name))
    throw new ImportError(
      `policy name ${JSON.stringify(name)} is not valid`,
      'use 1 to 63 lower-case letters, digits and dashes, starting and ending with a letter or digit, e.g. desktop-oom',
    );
  if (inputs.length === 0)
    throw new ImportError(
      `nothing to import from ${from}`,
      from === 'earlyoom'
        ? 'give the earlyoom command line, e.g. "earlyoom -m 10 -s 10", or /etc/default/earlyoom'
        : `give the ${from} configuration file(s)`,
    );

  const untranslated: Untranslated[] = [];
  const notes: string[] = [];
  const ctx: ImportContext = {
    fail(message, hint) {
      throw new ImportError(message, hint);
    },
    untranslated(source, item, reason) {
      if (!untranslated.some((u) => u.source === source && u.item === item))
        untranslated.push({ source, item, reason });
    },
    note(text) {
      if (!notes.includes(text)) notes.push(text);
    },
    pathRegex,
  };

  const t = importer(inputs, ctx);
  // Importers may share one condition between rules; the document must be a plain
  // tree (structuredClone would keep the sharing, and YAML would print anchors).
  const spec = JSON.parse(JSON.stringify(t.spec)) as ImportSpec;
  const document: PolicyDocument = {
    apiVersion: 'oomfleet/v1',
    kind: 'OomPolicy',
    metadata: { name, description: clip(t.description, MAX_DESCRIPTION) },
    spec: spec.rules ? { ...spec, rules: withUniqueNames(spec.rules) } : spec,
  };
  const check = loadPolicyValue(document);
  if (!check.ok) {
    const errors = check.issues.filter((i) => i.severity === 'error');
    throw new ImportError(
      `the policy translated from ${from} does not validate: ${errors.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      'this is a bug in the importer; please report it together with the input',
    );
  }
  return { document, untranslated, notes };
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Glob → regex over whole cgroup paths: `*` stays within a segment, `**` spans any depth. */
export function pathRegex(glob: string): string {
  if (glob === '/') return '^/$';
  const segs = glob.split('/').filter((s) => s !== '');
  let out = '^';
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    if (seg === '**') out += last ? '(/.*)?' : '(/[^/]+)*';
    else
      out += `/${seg
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*')}`;
  });
  return `${out}$`;
}

/** Importers name rules descriptively; here the names become valid and unique. */
function withUniqueNames(rules: readonly Rule[]): Rule[] {
  const used = new Set<string>();
  return rules.map((r) => {
    const base = trimTo(slug(r.name), 63);
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${trimTo(base, 62 - String(i).length)}-${i}`;
    used.add(name);
    return { ...r, name };
  });
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'rule'
  );
}

/** At most n characters, cut at a dash where that keeps most of the name. */
function trimTo(s: string, n: number): string {
  if (s.length <= n) return s;
  const cut = s.slice(0, n);
  const dash = s.charAt(n) === '-' ? n : cut.lastIndexOf('-');
  return (dash > n / 2 ? cut.slice(0, dash) : cut).replace(/-+$/, '') || 'rule';
}
