// Secrets the control plane hands out: API tokens (oft_…), enrolment tokens
// (ofe_…) and host secrets (given at enrolment). Only their sha256 is stored;
// a leaked database gives no usable secret. 32 random bytes need no salt or
// slow hash: there is nothing to guess.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'api' | 'enrollment' | 'host';
const PREFIX: Record<TokenKind, string> = { api: 'oft_', enrollment: 'ofe_', host: 'ofh_' };

export function newToken(kind: TokenKind): string {
  return `${PREFIX[kind]}${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
