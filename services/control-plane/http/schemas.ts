// Shared TypeBox schemas of the API: problems, version references, paging.
import { Type, type TSchema } from '@fastify/type-provider-typebox';
import type { Problem } from './errors.ts';

export const ProblemItemSchema = Type.Object({
  path: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Integer()),
  column: Type.Optional(Type.Integer()),
  hint: Type.Optional(Type.String()),
  severity: Type.Optional(Type.String()),
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(ProblemItemSchema)),
  },
  { additionalProperties: true, $id: 'Problem', description: 'application/problem+json' },
);

const ProblemRef = Type.Unsafe<Problem>({ $ref: 'Problem#' });

/** Response schemas for the error statuses every /api/v1 route may answer. */
export function withErrors<T extends Record<number, TSchema>>(ok: T) {
  return { ...ok, '4xx': ProblemRef, '5xx': ProblemRef };
}

export const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

export const DateTime = Type.String({ format: 'date-time' });

export const Uuid = Type.String({ format: 'uuid' });

export const IdParams = Type.Object({ id: Uuid });

export const VersionRefSchema = Type.Object({
  id: Type.String(),
  policy: Type.String(),
  version: Type.Integer(),
  digest: Type.String(),
});

export const Labels = Type.Record(
  Type.String({ minLength: 1, maxLength: 63 }),
  Type.String({ maxLength: 63 }),
);

export const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 }));

export const JsonValue = Type.Unknown();

export const RoleSchema = Type.Union([
  Type.Literal('viewer'),
  Type.Literal('author'),
  Type.Literal('operator'),
  Type.Literal('admin'),
]);
