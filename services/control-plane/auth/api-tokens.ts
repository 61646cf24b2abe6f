// API tokens for the HTTP API: bearer secrets (oft_…) with a role. Only the
// sha256 of a secret is stored. On the first start of a control plane (no API
// token exists at all) an admin token is created and its secret handed to the
// caller once, to print.
import type { Database } from '../store/db.ts';
import type { ApiToken, Role } from '../store/generated/client.ts';
import { hashToken, newToken } from './tokens.ts';

export type { Role };
export const ROLES: readonly Role[] = ['viewer', 'author', 'operator', 'admin'];

/** True when `have` is `need` or a higher role (viewer < author < operator < admin). */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export interface CreatedApiToken {
  /** The secret; shown once, never stored. */
  token: string;
  record: ApiToken;
}

export async function createApiToken(
  db: Pick<Database, 'prisma'>,
  input: { name: string; role: Role; createdBy: string },
): Promise<CreatedApiToken> {
  const token = newToken('api');
  const record = await db.prisma.apiToken.create({
    data: {
      name: input.name,
      role: input.role,
      createdBy: input.createdBy,
      tokenHash: hashToken(token),
    },
  });
  return { token, record };
}

// One lock key for "bootstrap the admin token", so that replicas starting
// together create one token between them.
const BOOTSTRAP_LOCK = 0x6f6f6d66; // "oomf"

/**
 * Creates an admin token when no API token exists (first start) and returns
 * its secret for the caller to print once; returns undefined otherwise.
 */
export async function ensureAdminToken(db: Database): Promise<string | undefined> {
  return db.prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
    if ((await tx.apiToken.count()) > 0) return undefined;
    const token = newToken('api');
    await tx.apiToken.create({
      data: {
        name: 'bootstrap-admin',
        role: 'admin',
        createdBy: 'bootstrap',
        tokenHash: hashToken(token),
      },
    });
    return token;
  });
}

/** The live (not revoked) token with this secret, or undefined. */
export async function lookupApiToken(
  db: Pick<Database, 'prisma'>,
  secret: string,
): Promise<ApiToken | undefined> {
  if (!secret.startsWith('oft_')) return undefined;
  const found = await db.prisma.apiToken.findUnique({ where: { tokenHash: hashToken(secret) } });
  if (!found || found.revokedAt !== null) return undefined;
  return found;
}
