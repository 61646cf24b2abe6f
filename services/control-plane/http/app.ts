// The HTTP API as one fastify app, built from plugins (the fastify/demo
// shape): external plugins (OpenAPI), then app-wide behaviour (problem
// errors, metrics, auth), then routes. Starting and stopping a server is the
// caller's business: buildApp returns the app ready to listen or inject.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { registerAuth } from './auth.ts';
import type { AppDeps } from './context.ts';
import {
  ApiError,
  isDatabaseUnavailable,
  problem,
  type ErrorCode,
  type ProblemItem,
} from './errors.ts';
import { auditRoutes } from './routes/audit.ts';
import { eventRoutes } from './routes/events.ts';
import { groupRoutes } from './routes/groups.ts';
import { healthRoutes } from './routes/health.ts';
import { hostRoutes } from './routes/hosts.ts';
import { policyRoutes } from './routes/policies.ts';
import { rolloutRoutes } from './routes/rollouts.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { ProblemSchema } from './schemas.ts';

export type { AppDeps } from './context.ts';
export { ensureAdminToken } from '../auth/api-tokens.ts';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function validationItems(error: FastifyError): ProblemItem[] {
  const where = error.validationContext ?? 'body';
  return (error.validation ?? []).map((v: AjvError) => {
    let path = where + (v.instancePath ?? '').replace(/\//g, '.');
    const missing = v.params?.missingProperty;
    const extra = v.params?.additionalProperty;
    if (typeof missing === 'string') path += `.${missing}`;
    if (typeof extra === 'string') path += `.${extra}`;
    return { path, message: v.message ?? 'invalid' };
  });
}

function fastifyErrorCode(error: FastifyError): ErrorCode | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body-too-large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported-media-type';
    default:
      return undefined;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const bodyLimit = deps.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const tls = deps.https;
  if (tls?.requestCert && !tls.ca)
    throw new Error('https.requestCert needs https.ca to verify client certificates');
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit,
    ajv: { customOptions: { allErrors: true, removeAdditional: false } },
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.requestCert ? { requestCert: true, rejectUnauthorized: true } : {}),
          },
        }
      : {}),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('deps', deps);
  app.addSchema(ProblemSchema);

  // ---- external plugins ----
  await app.register(swagger, {
    // Shared schemas appear in components under their $id ("Problem").
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'oomfleet control plane',
        description: 'Versioned OOM policies, host groups, assignments, outcomes. See docs/api.md.',
        version: '1',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'oft_…' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // ---- problems ----
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let body;
    if (error instanceof ApiError) {
      if (error.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer');
      body = problem(error.code, error.message, error.errors, error.extensions);
    } else if (error.validation) {
      const items = validationItems(error);
      body = problem(
        'validation-failed',
        items.map((i) => `${i.path}: ${i.message}`).join('; '),
        items,
      );
    } else if (fastifyErrorCode(error)) {
      body = problem(fastifyErrorCode(error) ?? 'internal-error', error.message);
    } else if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: error }, 'database unavailable');
      void reply.header('retry-after', '5');
      body = problem('database-unavailable', 'PostgreSQL cannot be reached; retry shortly');
    } else if (
      typeof error.statusCode === 'number' &&
      error.statusCode >= 400 &&
      error.statusCode < 500
    ) {
      body = { ...problem('malformed-body', error.message), status: error.statusCode };
    } else {
      request.log.error({ err: error }, 'internal error');
      body = problem('internal-error', 'the server failed; see its log');
    }
    return reply.code(body.status).type('application/problem+json').send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(problem('route-not-found', `${request.method} ${request.url.split('?')[0] ?? ''}`)),
  );

  // ---- metrics ----
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequests.inc({
      route: request.routeOptions.url ?? 'unmatched',
      method: request.method,
      status: String(reply.statusCode),
    });
  });

  // ---- routes ----
  await app.register(healthRoutes);
  await app.register(
    async (api) => {
      registerAuth(api);
      api.addContentTypeParser(YAML_TYPES, { parseAs: 'string', bodyLimit }, (_req, body, done) => {
        done(null, { source: body });
      });
      await api.register(policyRoutes);
      await api.register(hostRoutes);
      await api.register(groupRoutes);
      await api.register(eventRoutes);
      await api.register(auditRoutes);
      await api.register(tokenRoutes);
      await api.register(rolloutRoutes);
    },
    { prefix: '/api/v1' },
  );
  await app.ready();
  return app;
}
