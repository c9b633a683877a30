// Statistics of `npm run bench`: percentiles within a workload, ratios A/X
// paired within a round (the variants of a round share the machine's load of
// that minute), and the pooled verdict over all rounds.

/** Percentile (0–100) of an unsorted array, nearest rank; NaN when empty. */
export function percentile(values, p) {
  const sorted = Float64Array.from(values.filter(Number.isFinite)).sort();
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Median, min, max and count of the finite values. */
export function summary(values) {
  const v = values.filter(Number.isFinite).sort((x, y) => x - y);
  const mid = v.length >> 1;
  return {
    median: v.length === 0 ? Number.NaN : v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2,
    min: v.length ? v[0] : Number.NaN,
    max: v.length ? v[v.length - 1] : Number.NaN,
    n: v.length,
  };
}

/** One figure of a variant, round by round (NaN where it did not run). */
export const series = (runs, key, workload, field) =>
  runs.map((round) => round[key]?.[workload]?.[field] ?? Number.NaN);

/** X/Y of one figure, computed within each round (NaN where either is missing). */
export function roundRatios(runs, x, y, workload, field) {
  const xs = series(runs, x, workload, field);
  const ys = series(runs, y, workload, field);
  return xs.map((value, i) => value / ys[i]);
}

/** One-sided 95 % quantiles of Student's t by degrees of freedom (a 90 % interval). */
const T95 = [
  [1, 6.314],
  [2, 2.92],
  [3, 2.353],
  [4, 2.132],
  [5, 2.015],
  [6, 1.943],
  [7, 1.895],
  [8, 1.86],
  [9, 1.833],
  [10, 1.812],
  [12, 1.782],
  [15, 1.753],
  [20, 1.725],
  [30, 1.697],
];
const t95 = (df) => T95.find(([d]) => d >= df)?.[1] ?? 1.645;

/**
 * The pooled ratio of per-round ratios: their geometric mean (A/C and C/A pool
 * to reciprocals), with a 90 % interval from the spread of their logarithms
 * (Student's t; none with fewer than 2 rounds). `n` counts the usable rounds.
 */
export function pooled(ratios) {
  const logs = ratios.filter((r) => Number.isFinite(r) && r > 0).map(Math.log);
  const n = logs.length;
  if (n === 0) return { ratio: Number.NaN, low: Number.NaN, high: Number.NaN, n };
  const mean = logs.reduce((sum, x) => sum + x, 0) / n;
  if (n < 2) return { ratio: Math.exp(mean), low: Number.NaN, high: Number.NaN, n };
  const sd = Math.sqrt(logs.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (n - 1));
  const half = (t95(n - 1) * sd) / Math.sqrt(n);
  return { ratio: Math.exp(mean), low: Math.exp(mean - half), high: Math.exp(mean + half), n };
}

/**
 * A target's verdict on a pooled ratio: `met` when `ratio` is on the right
 * side of `limit` (`at` is "≥" or "≤"), `undefined` when it
 * cannot be computed; `settled` when the whole interval is on the same side.
 */
export function verdict({ ratio, low, high }, { at, limit }) {
  if (!Number.isFinite(ratio)) return { met: undefined, settled: false };
  const ok = (x) => (at === "≥" ? x >= limit : x <= limit);
  return { met: ok(ratio), settled: Number.isFinite(low) && ok(low) === ok(high) };
}

/** X − Y of one figure, computed within each round (NaN where either is missing). */
export function roundDifferences(runs, x, y, workload, field) {
  const xs = series(runs, x, workload, field);
  const ys = series(runs, y, workload, field);
  return xs.map((value, i) => value - ys[i]);
}

/**
 * The pooled difference of per-round differences: their mean, with a 90 %
 * interval from their spread (Student's t; none with fewer than 2 rounds).
 */
export function pooledDifference(differences) {
  const d = differences.filter(Number.isFinite);
  const n = d.length;
  if (n === 0) return { ratio: Number.NaN, low: Number.NaN, high: Number.NaN, n };
  const mean = d.reduce((sum, x) => sum + x, 0) / n;
  if (n < 2) return { ratio: mean, low: Number.NaN, high: Number.NaN, n };
  const sd = Math.sqrt(d.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (n - 1));
  const half = (t95(n - 1) * sd) / Math.sqrt(n);
  return { ratio: mean, low: mean - half, high: mean + half, n };
}

/**
 * Every target whose workload ran for both its variants, judged on the
 * pooled ratio of its per-round ratios (or, for a target of `kind`
 * "difference", the mean of its per-round differences A − Y):
 * `{...target, ratios, pool, met, settled}`.
 */
export function judge(runs, targets, ran) {
  return targets
    .filter((t) => ran(t.workload, t.y))
    .map((t) => {
      const difference = t.kind === "difference";
      const ratios = (difference ? roundDifferences : roundRatios)(
        runs,
        "A",
        t.y,
        t.workload,
        t.field,
      );
      const pool = (difference ? pooledDifference : pooled)(ratios);
      return { ...t, ratios, pool, ...verdict(pool, t) };
    });
}
