// Fan-out of desired-state changes between control-plane replicas over Redis
// pub/sub (DESIGN.md, "Scale"). Whoever changes desired state publishes the
// host ids; every replica's gRPC server hears them and pushes to the agents it
// holds. Messages carry only ids: each replica reads the desired state from
// PostgreSQL, the truth. ['*'] means "every host". Pub/sub loses what is
// published while a subscriber is cut off, so after a reconnect the
// subscribers are told ['*'] and resynchronise (level-triggered, as xDS).
import { Redis } from 'ioredis';

export const ALL_HOSTS = '*';

export interface Fanout {
  /** Tells every replica (this one included) that these hosts' desired state changed. */
  publish(hostIds: readonly string[]): Promise<void>;
  /** Calls handler with the ids of each publish; returns a function that unsubscribes. */
  subscribe(handler: (hostIds: string[]) => void): () => void;
  close(): Promise<void>;
}

export interface FanoutOptions {
  redisUrl: string;
  channel: string;
}

/** Ids per Redis message: a publish of 100,000 hosts goes as several messages. */
const CHUNK = 5000;

export async function createFanout(o: FanoutOptions): Promise<Fanout> {
  const pub = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const sub = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null });
  // Without listeners ioredis logs connection errors as unhandled; it reconnects.
  pub.on('error', () => {});
  sub.on('error', () => {});
  const handlers = new Set<(hostIds: string[]) => void>();
  const deliver = (ids: string[]): void => {
    for (const h of handlers) {
      try {
        h(ids);
      } catch {
        // A failing handler must not stop the others.
      }
    }
  };
  sub.on('message', (channel: string, message: string) => {
    if (channel !== o.channel) return;
    let ids: unknown;
    try {
      ids = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(ids)) return;
    deliver(ids.filter((x): x is string => typeof x === 'string'));
  });
  let readyOnce = false;
  sub.on('ready', () => {
    if (readyOnce) deliver([ALL_HOSTS]);
    readyOnce = true;
  });
  try {
    await Promise.all([pub.connect(), sub.connect()]);
    await sub.subscribe(o.channel);
  } catch (err) {
    pub.disconnect();
    sub.disconnect();
    throw err;
  }
  return {
    async publish(hostIds) {
      if (hostIds.length === 0) return;
      if (hostIds.includes(ALL_HOSTS)) {
        await pub.publish(o.channel, JSON.stringify([ALL_HOSTS]));
        return;
      }
      for (let i = 0; i < hostIds.length; i += CHUNK)
        await pub.publish(o.channel, JSON.stringify(hostIds.slice(i, i + CHUNK)));
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => {
        handlers.delete(handler);
      };
    },
    async close() {
      handlers.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
      pub.disconnect();
      sub.disconnect();
    },
  };
}
