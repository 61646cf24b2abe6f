// Small things every route module needs: the actor, desired-state follow-up.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { resolveDesired } from '../desired/resolve.ts';
import type { RequestActor } from './context.ts';
import { ApiError } from './errors.ts';

export function actorOf(request: FastifyRequest): RequestActor {
  if (!request.actor) throw new ApiError('unauthorized');
  return request.actor;
}

/**
 * After a change of desired state: recompute the desired version of these
 * hosts (all when omitted), and hand the ids of those whose version changed
 * to onDesiredChanged. Returns those ids.
 *
 * The change is committed by then and the stored desired version is the
 * truth (agents receive it on every reconnect), so a failing
 * onDesiredChanged is logged, not turned into an error response: a retry by
 * the client would find nothing left to change and publish nothing.
 */
export async function desiredChanged(
  app: FastifyInstance,
  hostIds?: readonly string[],
): Promise<string[]> {
  if (hostIds?.length === 0) return [];
  const changed = await resolveDesired(app.deps.db, hostIds ? { hostIds } : {});
  if (changed.length > 0)
    try {
      await app.deps.onDesiredChanged(changed);
    } catch (err) {
      app.log.error({ err, hostIds: changed }, 'publishing a desired-state change failed');
    }
  return changed;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);
