// Host group selectors: Kubernetes-style label selection, the form SREs know.
// {"matchLabels": {"zone": "a"}, "matchExpressions": [{"key": "kernel",
// "operator": "In", "values": ["6.1", "6.6"]}]}. An empty selector matches
// every host.
import { Type, type Static } from '@sinclair/typebox';

export const SelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 63 }), Type.String({ maxLength: 63 })),
    ),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            key: Type.String({ minLength: 1, maxLength: 63 }),
            operator: Type.Union([
              Type.Literal('In'),
              Type.Literal('NotIn'),
              Type.Literal('Exists'),
              Type.Literal('DoesNotExist'),
            ]),
            values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Selector = Static<typeof SelectorSchema>;
export type Labels = Record<string, string>;

export function matchesSelector(selector: Selector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || value === undefined || !(e.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && (e.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Labels as stored (JSON): string values only, anything else dropped. */
export function asLabels(value: unknown): Labels {
  const out: Labels = {};
  if (value && typeof value === 'object' && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}
