// Bearer-token authentication and role checks for /api/v1. Runs onRequest,
// before body parsing and validation: an anonymous or under-privileged
// caller learns nothing about the route's schema. No, unknown or revoked
// token → 401; a role below the route's `config.role` → 403.
import type { FastifyInstance } from 'fastify';
import { lookupApiToken, roleAllows } from '../auth/api-tokens.ts';
import { ApiError } from './errors.ts';

const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** last_used_at is written at most this often per token. */
const LAST_USED_EVERY_MS = 60_000;

export function registerAuth(app: FastifyInstance): void {
  const lastWritten = new Map<string, number>();
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const m = header === undefined ? null : BEARER.exec(header);
    if (!m?.[1]) throw new ApiError('unauthorized', 'send Authorization: Bearer <API token>');
    const token = await lookupApiToken(app.deps.db, m[1]);
    if (!token) throw new ApiError('unauthorized', 'the token is unknown or revoked');
    request.actor = { id: token.id, name: token.name, role: token.role };
    const need = request.routeOptions.config.role ?? 'viewer';
    if (!roleAllows(token.role, need))
      throw new ApiError('forbidden', `this needs the ${need} role; the token has ${token.role}`);
    const now = Date.now();
    if (now - (lastWritten.get(token.id) ?? 0) > LAST_USED_EVERY_MS) {
      lastWritten.set(token.id, now);
      void app.deps.db.prisma.apiToken
        .update({ where: { id: token.id }, data: { lastUsedAt: new Date(now) } })
        .catch(() => {
          lastWritten.delete(token.id);
        });
    }
  });
}
