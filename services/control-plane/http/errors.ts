// The one catalogue of API errors. Every error the HTTP API answers is an
// application/problem+json body (RFC 9457) with a stable `code` from this
// list; docs/api.md documents each code (errors.test.ts checks it does).
// Codes are kebab-case and never change meaning once released.

export interface ErrorSpec {
  status: number;
  title: string;
}

export const ERRORS = {
  'validation-failed': { status: 400, title: 'The request does not match its schema' },
  'malformed-body': { status: 400, title: 'The request body could not be parsed' },
  'invalid-policy': { status: 400, title: 'The policy document is invalid' },
  'invalid-label-filter': { status: 400, title: 'A label filter is malformed' },
  unauthorized: { status: 401, title: 'A valid API token is required' },
  forbidden: { status: 403, title: "The token's role does not allow this" },
  'route-not-found': { status: 404, title: 'No such route' },
  'policy-not-found': { status: 404, title: 'No such policy' },
  'policy-version-not-found': { status: 404, title: 'No such policy version' },
  'host-not-found': { status: 404, title: 'No such host' },
  'group-not-found': { status: 404, title: 'No such host group' },
  'assignment-not-found': { status: 404, title: 'The host group has no assignment' },
  'token-not-found': { status: 404, title: 'No such API token' },
  'enrollment-token-not-found': { status: 404, title: 'No such enrolment token' },
  'group-name-taken': { status: 409, title: 'A host group with this name exists' },
  'rollout-not-found': { status: 404, title: 'No such rollout' },
  'rollout-overlap': { status: 409, title: 'Hosts of the group are in another active rollout' },
  'group-empty': { status: 409, title: 'The host group matches no host' },
  'rollout-state': { status: 409, title: 'The rollout cannot do that in its state' },
  'approval-by-second-person': {
    status: 403,
    title: 'A rollout step must be approved by someone other than who started it',
  },
  'body-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The content type is not supported' },
  'database-unavailable': { status: 503, title: 'PostgreSQL is unreachable' },
  'not-ready': { status: 503, title: 'A dependency is unreachable' },
  'internal-error': { status: 500, title: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** One entry of `errors`: where (a JSON path, or body/querystring/params first) and what. */
export interface ProblemItem {
  path: string;
  message: string;
  line?: number;
  column?: number;
  hint?: string;
  severity?: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  errors?: ProblemItem[];
  [extension: string]: unknown;
}

export const PROBLEM_TYPE_PREFIX = 'urn:oomfleet:problem:';

/** An error a route throws on purpose; the error handler turns it into a problem body. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: ProblemItem[] | undefined;
  readonly extensions: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { errors?: ProblemItem[]; extensions?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(detail ?? ERRORS[code].title, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

export function problem(
  code: ErrorCode,
  detail?: string,
  errors?: ProblemItem[],
  extensions: Record<string, unknown> = {},
): Problem {
  const spec = ERRORS[code];
  return {
    ...extensions,
    type: `${PROBLEM_TYPE_PREFIX}${code}`,
    title: spec.title,
    status: spec.status,
    code,
    ...(detail !== undefined ? { detail } : {}),
    ...(errors !== undefined ? { errors } : {}),
  };
}

const PRISMA_UNREACHABLE = new Set(['P1001', 'P1002', 'P1008', 'P1011', 'P1017', 'P2024']);
const ADAPTER_UNREACHABLE = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'DatabaseDoesNotExist',
]);
const NODE_UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, connection_* (08xxx)
  '57P01',
  '57P02',
  '57P03',
]);
const UNREACHABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Can't reach database server/i;

/** True when an error (Prisma, driver adapter or pg) means PostgreSQL cannot be reached. */
export function isDatabaseUnavailable(e: unknown, depth = 0): boolean {
  if (e === null || typeof e !== 'object' || depth > 5) return false;
  const o = e as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    kind?: unknown;
    meta?: { driverAdapterError?: { cause?: { kind?: unknown } } };
  };
  if (typeof o.code === 'string') {
    if (PRISMA_UNREACHABLE.has(o.code) || NODE_UNREACHABLE.has(o.code)) return true;
    if (o.code.startsWith('08')) return true;
  }
  const kind = o.meta?.driverAdapterError?.cause?.kind ?? o.kind;
  if (typeof kind === 'string' && ADAPTER_UNREACHABLE.has(kind)) return true;
  if (typeof o.message === 'string' && UNREACHABLE_MESSAGE.test(o.message)) return true;
  return isDatabaseUnavailable(o.cause, depth + 1);
}

/** Prisma's unique-constraint violation. */
export function isUniqueViolation(e: unknown): boolean {
  return (
    e !== null &&
    typeof e === 'object' &&
    ((e as { code?: unknown }).code === 'P2002' ||
      /Unique constraint/i.test(String((e as { message?: unknown }).message)))
  );
}
