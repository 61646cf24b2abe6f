// The agent's local endpoint: HTTP over a Unix socket that only root can
// open (the socket is created 0600 inside a 0700 directory), so `oomfleet
// agent status` needs no token and no network port is ever opened.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { AgentApi } from './api.ts';

import { DEFAULT_SOCKET_PATH } from '../paths.ts';

export const DEFAULT_SOCKET = DEFAULT_SOCKET_PATH;
/** Dry-run policies are documents, not uploads: the policy parser caps them at 1 MiB too. */
const MAX_BODY = 1024 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

async function handle(api: AgentApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  switch (route) {
    case 'GET /v1/status':
      send(res, 200, api.status());
      return;
    case 'GET /v1/explain': {
      const e = api.explain();
      if (!e) send(res, 409, { error: 'no-policy', message: 'the agent has no policy applied' });
      else send(res, 200, e);
      return;
    }
    case 'POST /v1/dry-run': {
      const body = await readBody(req);
      if (body === undefined)
        send(res, 413, { error: 'too-large', message: `policy larger than ${MAX_BODY} bytes` });
      else send(res, 200, await api.dryRun(body));
      return;
    }
    case 'GET /v1/events': {
      const since = url.searchParams.get('since') ?? undefined;
      const limit = Number(url.searchParams.get('limit') ?? '1000');
      const past = api.events({ since, limit: Number.isFinite(limit) && limit > 0 ? limit : 1000 });
      if (url.searchParams.get('follow') !== '1') {
        send(res, 200, past);
        return;
      }
      // Follow: NDJSON, the backlog first, then live events until the client goes.
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const e of past) res.write(`${JSON.stringify(e)}\n`);
      const unsubscribe = api.subscribe((e) => res.write(`${JSON.stringify(e)}\n`));
      req.on('close', unsubscribe);
      return;
    }
    default:
      send(res, 404, { error: 'not-found', message: `no route ${route}` });
  }
}

export async function startEndpoint(
  api: AgentApi,
  socketPath: string = DEFAULT_SOCKET,
): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
  // A socket left by a crashed agent would make listen() fail with EADDRINUSE.
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    handle(api, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'internal', message: (err as Error).message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return server;
}
