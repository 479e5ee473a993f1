// Small statistics of the tracer-sharing benchmark (run.mjs, report.mjs).
export const min = (xs) => (xs.length ? Math.min(...xs) : null);
export const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
export const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
export const MiB = (bytes) => bytes / 1048576;
export const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
