const binary: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const decimal: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * The value of a Kubernetes quantity ("512Mi", "1G", "1.5Gi", "2e9") as a number, or undefined
 * when it is not one. Precision is a double's: fine for sizing, not for exact arithmetic.
 */
export function quantityValue(quantity: string): number | undefined {
  const match =
    /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(
      quantity.trim(),
    );
  if (match === null) return undefined;
  const [, number = '', exponent, suffix = ''] = match;
  const base = Number(number);
  if (exponent !== undefined) return base * 10 ** Number(exponent.slice(1));
  const factor = binary[suffix] ?? decimal[suffix];
  return factor === undefined ? undefined : base * factor;
}

/**
 * Redis' maxmemory for a container memory limit: 80 % of it, leaving room for the AOF rewrite
 * buffer, client buffers and fragmentation, so Redis refuses writes (which the relays turn into
 * a clear STORAGE_UNAVAILABLE, nothing acknowledged lost) before the kernel kills it.
 */
export function redisMaxMemoryBytes(memoryLimit: string | undefined): number | undefined {
  if (memoryLimit === undefined) return undefined;
  const bytes = quantityValue(memoryLimit);
  return bytes === undefined || bytes <= 0 ? undefined : Math.floor(bytes * 0.8);
}
