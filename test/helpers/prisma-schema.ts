// Reads what a PostgreSQL database must hold according to prisma/schema.prisma:
// tables, columns (type, nullability, default), indexes, foreign keys and
// enums. Only the schema language this project uses is understood (models,
// enums, @id @unique @default @map @db.* @updatedAt @relation, @@map
// @@unique @@index); anything else fails loudly, so a new feature in the
// schema cannot slip past the check. Prisma's own reader (its schema engine)
// must be downloaded, which this machine cannot do.
export interface ExpectedColumn {
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}
export interface ExpectedSchema {
  tables: Record<string, Record<string, ExpectedColumn>>;
  /** "table(col,col)" for unique indexes (primary keys included), "table(col)" for plain ones. */
  uniqueIndexes: Set<string>;
  indexes: Set<string>;
  /** "table(col)->table(col) on delete RESTRICT". */
  foreignKeys: Set<string>;
  enums: Record<string, string[]>;
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Boolean: 'boolean',
  Float: 'double precision',
};

const NATIVE_TYPES: Record<string, string> = {
  '@db.Uuid': 'uuid',
  '@db.Timestamptz(3)': 'timestamp(3) with time zone',
};

const ON_DELETE: Record<string, string> = {
  Restrict: 'RESTRICT',
  Cascade: 'CASCADE',
  SetNull: 'SET NULL',
  NoAction: 'NO ACTION',
};

interface Field {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  attrs: string;
}

function blocks(text: string, kind: 'model' | 'enum'): [string, string][] {
  const out: [string, string][] = [];
  // A block ends at a "}" alone on its line: defaults such as "{}" hold braces.
  const re = new RegExp(`^${kind}\\s+(\\w+)\\s*\\{([\\s\\S]*?)^\\}`, 'gm');
  for (const m of text.matchAll(re)) out.push([m[1] ?? '', m[2] ?? '']);
  return out;
}

const lines = (body: string): string[] =>
  body
    .split('\n')
    .map((l) => l.replace(/\/\/.*$/, '').trim())
    .filter(Boolean);

const listArg = (s: string): string[] =>
  s
    .replace(/[[\]]/g, '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function expectedSchema(text: string): ExpectedSchema {
  const enums: Record<string, string[]> = {};
  for (const [name, body] of blocks(text, 'enum')) enums[name] = lines(body);
  const models = new Map<string, { table: string; fields: Field[]; block: string[] }>();
  for (const [name, body] of blocks(text, 'model')) {
    const ls = lines(body);
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? name;
    const fields: Field[] = [];
    for (const l of ls) {
      if (l.startsWith('@@')) continue;
      const m = /^(\w+)\s+(\w+)(\?|\[\])?\s*(.*)$/.exec(l);
      if (!m) throw new Error(`schema.prisma: cannot read field line "${l}" in ${name}`);
      const attrs = m[4] ?? '';
      fields.push({
        name: m[1] ?? '',
        column: /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? m[1] ?? '',
        type: m[2] ?? '',
        optional: m[3] === '?',
        list: m[3] === '[]',
        attrs,
      });
    }
    models.set(name, { table, fields, block: ls.filter((l) => l.startsWith('@@')) });
  }
  const out: ExpectedSchema = {
    tables: {},
    uniqueIndexes: new Set(),
    indexes: new Set(),
    foreignKeys: new Set(),
    enums,
  };
  for (const [name, model] of models) {
    const cols: Record<string, ExpectedColumn> = {};
    const col = (field: string): string => {
      const f = model.fields.find((x) => x.name === field);
      if (!f) throw new Error(`schema.prisma: ${name} has no field ${field}`);
      return f.column;
    };
    for (const f of model.fields) {
      if (models.has(f.type)) {
        // A relation field: no column; its @relation names the foreign key.
        const rel = /@relation\(([^)]*)\)/.exec(f.attrs)?.[1];
        const fields = rel && /fields:\s*(\[[^\]]*\])/.exec(rel)?.[1];
        if (!rel || !fields) continue;
        const refs = listArg(/references:\s*(\[[^\]]*\])/.exec(rel)?.[1] ?? '');
        const onDelete =
          /onDelete:\s*(\w+)/.exec(rel)?.[1] ?? (f.optional ? 'SetNull' : 'Restrict');
        const target = models.get(f.type);
        if (!target) continue;
        const targetCol = (x: string): string =>
          target.fields.find((t) => t.name === x)?.column ?? x;
        out.foreignKeys.add(
          `${model.table}(${listArg(fields).map(col).join(',')})->${target.table}(${refs.map(targetCol).join(',')}) on delete ${ON_DELETE[onDelete] ?? onDelete}`,
        );
        continue;
      }
      if (f.list) {
        // Scalar lists: Prisma makes them arrays, nullable, without a default.
        const element = SCALAR_TYPES[f.type];
        if (!element || f.attrs.includes('@db.') || f.attrs.includes('@default'))
          throw new Error(`schema.prisma: list ${name}.${f.name} is not understood`);
        cols[f.column] = { type: `${element}[]`, nullable: true, hasDefault: false };
        continue;
      }
      const native = Object.keys(NATIVE_TYPES).find((k) => f.attrs.includes(k));
      const unknownNative = /@db\.\S+/.exec(f.attrs);
      if (unknownNative && !native)
        throw new Error(`schema.prisma: native type ${unknownNative[0]} is not understood`);
      const type = native
        ? NATIVE_TYPES[native]
        : enums[f.type]
          ? `enum ${f.type}`
          : SCALAR_TYPES[f.type];
      if (!type) throw new Error(`schema.prisma: type ${f.type} is not understood`);
      const def = /@default\(([^)]*\)?)\)/.exec(f.attrs)?.[1];
      // uuid() is made by the client; autoincrement() is a sequence default.
      const hasDefault = def !== undefined && !def.startsWith('uuid(');
      cols[f.column] = { type, nullable: f.optional, hasDefault };
      if (/@id\b/.test(f.attrs) || /@unique\b/.test(f.attrs))
        out.uniqueIndexes.add(`${model.table}(${f.column})`);
    }
    for (const l of model.block) {
      const m = /^@@(unique|index|id)\((\[[^\]]*\])/.exec(l);
      if (!m) {
        if (l.startsWith('@@map')) continue;
        throw new Error(`schema.prisma: block attribute "${l}" is not understood`);
      }
      const key = `${model.table}(${listArg(m[2] ?? '')
        .map(col)
        .join(',')})`;
      if (m[1] === 'index') out.indexes.add(key);
      else out.uniqueIndexes.add(key);
    }
    out.tables[model.table] = cols;
  }
  return out;
}
