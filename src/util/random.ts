/** FNV-1a over a string: a stable 32-bit seed per tensor name. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: small, fast, deterministic across platforms; quality is ample for random weights. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with uniform values of the given mean and standard deviation. */
export function fillUniform(out: Float32Array, next: () => number, mean: number, std: number): void {
  const half = std * Math.sqrt(3);
  for (let i = 0; i < out.length; i++) out[i] = mean + (2 * next() - 1) * half;
}
