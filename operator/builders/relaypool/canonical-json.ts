import { createHash } from 'node:crypto';

function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize);
  if (value !== null && typeof value === 'object') {
    // fromEntries defines own properties, so even a "__proto__" key stays data.
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonicalize((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/**
 * JSON with the keys of every object sorted (arrays keep their order): the same value gives the
 * same text whatever order its keys were built in. `indent` 0 gives the compact form.
 */
export function canonicalJson(value: unknown, indent = 0): string {
  return JSON.stringify(canonicalize(value), null, indent);
}

/** First 16 hex characters of the SHA-256 of the compact canonical JSON of `config`. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}
