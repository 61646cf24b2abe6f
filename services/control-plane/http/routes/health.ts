// Liveness, readiness and metrics: unauthenticated, outside /api/v1.
import { Type, type FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { problem } from '../errors.ts';
import { ProblemSchema } from '../schemas.ts';

const CHECK_TIMEOUT_MS = 1500;

async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer in ${ms} ms`));
    }, ms);
  });
  p.catch(() => {}); // a late rejection after the timeout must not go unhandled
  try {
    await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const Checks = Type.Object({ postgres: Type.String(), redis: Type.String() });

export const healthRoutes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'The process is alive',
        tags: ['health'],
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    () => Promise.resolve({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'PostgreSQL and Redis are reachable',
        tags: ['health'],
        security: [],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
          503: Type.Object(
            { ...ProblemSchema.properties, checks: Checks },
            { additionalProperties: true },
          ),
        },
      },
    },
    async (_request, reply) => {
      const { db, redis } = app.deps;
      const [pg, rd] = await Promise.allSettled([
        within(db.pool.query('SELECT 1'), CHECK_TIMEOUT_MS),
        within(redis.ping(), CHECK_TIMEOUT_MS),
      ]);
      const word = (r: PromiseSettledResult<unknown>): string =>
        r.status === 'fulfilled' ? 'ok' : `unreachable: ${(r.reason as Error).message}`;
      const checks = { postgres: word(pg), redis: word(rd) };
      if (pg.status === 'fulfilled' && rd.status === 'fulfilled')
        return reply.send({ status: 'ready' as const, checks });
      const down = [
        pg.status === 'rejected' ? 'postgres' : '',
        rd.status === 'rejected' ? 'redis' : '',
      ]
        .filter(Boolean)
        .join(' and ');
      return reply
        .code(503)
        .type('application/problem+json')
        .send({ ...problem('not-ready', `${down} unreachable`), checks });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['health'],
        security: [],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const { registry } = app.deps.metrics;
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  );
  done();
};
