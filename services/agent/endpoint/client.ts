// The CLI's side of the local endpoint.
import { request } from 'node:http';
import type { AgentStatus, DryRunResult, EventRecord } from './api.ts';
import type { Evaluation } from '../../policy/index.ts';

export class AgentUnreachableError extends Error {
  constructor(
    readonly socketPath: string,
    readonly code: string | undefined,
  ) {
    super(
      code === 'EACCES'
        ? `permission denied on ${socketPath}`
        : `no agent is listening on ${socketPath}${code ? ` (${code})` : ''}`,
    );
    this.name = 'AgentUnreachableError';
  }
}

function call(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: body ? { 'content-type': 'text/plain' } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
            });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(new AgentUnreachableError(socketPath, err.code));
    });
    req.end(body);
  });
}

export interface AgentClient {
  status(): Promise<AgentStatus>;
  explain(): Promise<Evaluation | { error: string; message: string }>;
  dryRun(policyText: string): Promise<DryRunResult>;
  events(options: { since?: string; limit?: number }): Promise<EventRecord[]>;
  follow(
    options: { since?: string },
    onEvent: (e: EventRecord) => void,
    signal?: AbortSignal,
  ): Promise<void>;
}

export function agentClient(socketPath: string): AgentClient {
  return {
    // The endpoint is the agent's own, same version: its JSON is trusted to match api.ts.
    status: async () => (await call(socketPath, 'GET', '/v1/status')).body as AgentStatus,
    explain: async () =>
      (await call(socketPath, 'GET', '/v1/explain')).body as
        Evaluation | { error: string; message: string },
    dryRun: async (text) =>
      (await call(socketPath, 'POST', '/v1/dry-run', text)).body as DryRunResult,
    events: async ({ since, limit }) => {
      const q = new URLSearchParams();
      if (since) q.set('since', since);
      if (limit) q.set('limit', String(limit));
      return (await call(socketPath, 'GET', `/v1/events?${q.toString()}`)).body as EventRecord[];
    },
    follow: ({ since }, onEvent, signal) =>
      new Promise((resolve, reject) => {
        const q = new URLSearchParams({ follow: '1' });
        if (since) q.set('since', since);
        const req = request(
          { socketPath, method: 'GET', path: `/v1/events?${q.toString()}`, signal },
          (res) => {
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              buf += chunk;
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (line.trim()) onEvent(JSON.parse(line) as EventRecord);
              }
            });
            res.on('end', () => {
              resolve();
            });
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err.name === 'AbortError') resolve();
          else reject(new AgentUnreachableError(socketPath, err.code));
        });
        req.end();
      }),
  };
}
