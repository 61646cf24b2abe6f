// One encoded Assignment per policy version, shared by every stream (the
// go-control-plane snapshot idea): versions are immutable, so the bytes of
// fields 1–5 are built once; each send adds only its own nonce. The server's
// gRPC serializer passes Buffers through untouched.
import type pg from 'pg';
import { Assignment, ControlMessage } from '../../proto/oomfleet/v1/agent.ts';
import { canonicalJson, type CanonicalPolicy } from '../../policy/index.ts';

export interface EncodedVersion {
  versionId: string;
  digest: string;
  /** Assignment fields 1–5 (no nonce), protobuf-encoded. */
  body: Buffer;
}

const NONE: EncodedVersion = { versionId: '', digest: '', body: Buffer.alloc(0) };

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** ControlMessage{assignment: body + nonce}, without re-encoding the body. */
export function encodeAssignment(v: EncodedVersion, nonce: string): Buffer {
  const n = Buffer.from(nonce, 'utf8');
  const nonceField = Buffer.from([0x32, ...varint(n.length)]); // field 6, length-delimited
  const inner = v.body.length + nonceField.length + n.length;
  const head = Buffer.from([0x0a, ...varint(inner)]); // ControlMessage field 1
  return Buffer.concat([head, v.body, nonceField, n], head.length + inner);
}

export class AssignmentCache {
  private readonly versions = new Map<string, EncodedVersion>();

  constructor(private readonly pool: pg.Pool) {}

  /** Encoded versions for these ids (null → "run nothing"), loading the missing ones. */
  async get(ids: Iterable<string | null>): Promise<Map<string | null, EncodedVersion>> {
    const out = new Map<string | null, EncodedVersion>();
    const missing: string[] = [];
    for (const id of ids) {
      if (id === null) out.set(null, NONE);
      else {
        const v = this.versions.get(id);
        if (v) out.set(id, v);
        else if (!missing.includes(id)) missing.push(id);
      }
    }
    if (missing.length > 0) {
      const { rows } = await this.pool.query<{
        id: string;
        version: number;
        digest: string;
        document: unknown;
        name: string;
      }>(
        `SELECT pv.id, pv.version, pv.digest, pv.document, p.name
           FROM policy_versions pv JOIN policies p ON p.id = pv.policy_id
          WHERE pv.id = ANY($1::uuid[])`,
        [missing],
      );
      for (const r of rows) {
        const body = Buffer.from(
          Assignment.encode({
            versionId: r.id,
            policyName: r.name,
            version: r.version,
            digest: r.digest,
            // jsonb does not keep key order: rebuild the canonical text.
            documentJson: canonicalJson(r.document as CanonicalPolicy),
            nonce: '',
          }).finish(),
        );
        const v = { versionId: r.id, digest: r.digest, body };
        this.versions.set(r.id, v);
        out.set(r.id, v);
      }
    }
    return out;
  }
}

/** Encodes any other ControlMessage. */
export function encodeControl(m: ControlMessage): Buffer {
  return Buffer.from(ControlMessage.encode(m).finish());
}
