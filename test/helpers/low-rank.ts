/**
 * Deterministic embedding-like data for recall tests and benchmarks: vectors near a low-rank
 * subspace, grouped in clusters, as real embeddings are (recall on uniform random vectors is
 * meaningless: every point is about as far from every other). Same seed, same vectors.
 */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link lowRankSpace}. */
export interface LowRankOptions {
  dims?: number;
  /** The subspace's dimension; default 16. */
  rank?: number;
  /** How many cluster centres; default 64. */
  clusters?: number;
  /** Spread of a point around its centre, relative to the centres' spread; default 0.5. */
  spread?: number;
  /** Noise outside the subspace, per coordinate; default 0.02. */
  noise?: number;
  seed?: number;
}

/** A space to draw vectors from: `next()` is a new vector near the subspace. */
export function lowRankSpace(options: LowRankOptions = {}): { dims: number; next(): number[] } {
  const { dims = 384, rank = 16, clusters = 64, spread = 0.5, noise = 0.02, seed = 1 } = options;
  const random = seeded(seed);
  const gaussian = () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const basis = Array.from({ length: rank }, () => Array.from({ length: dims }, gaussian));
  const centres = Array.from({ length: clusters }, () => Array.from({ length: rank }, gaussian));
  return {
    dims,
    next() {
      const centre = centres[Math.floor(random() * clusters)]!;
      const coefficients = centre.map((c) => c + spread * gaussian());
      const vector = new Array<number>(dims).fill(0);
      for (let r = 0; r < rank; r++) {
        const c = coefficients[r]!;
        const row = basis[r]!;
        for (let d = 0; d < dims; d++) vector[d]! += c * row[d]!;
      }
      for (let d = 0; d < dims; d++) vector[d]! += noise * gaussian() * Math.sqrt(rank);
      return vector;
    },
  };
}

/** Cosine distance, as pgvector's `<=>` computes it. */
export function cosineDistance(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return 1 - dot / Math.sqrt(na * nb);
}

/** The share of `expected` ids that `found` holds (recall@k with k = expected.length). */
export function recall(found: readonly string[], expected: readonly string[]): number {
  if (expected.length === 0) return 1;
  const wanted = new Set(expected);
  return found.filter((id) => wanted.has(id)).length / expected.length;
}
