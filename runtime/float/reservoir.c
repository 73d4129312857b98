/*
 * The percentile observer's bounded sample (TICO's PercentileObserver,
 * tico-semantics.md §2.2): each observer call offers at most
 * samples_per_batch values, spread evenly over its tensor with a phase that
 * moves by the golden ratio from call to call; every offered value gets a
 * random priority and the reservoir keeps the max_samples highest. Keeping
 * the global top-k by priority is what TICO's merge-and-topk does call after
 * call; a min-heap does it in O(log k) per value.
 *
 * The priorities come from splitmix64 seeded with the observer's seed (TICO
 * seeds each observer's torch generator the same way), 32 bits each: the
 * sample is deterministic on every host, but not the one torch's Mersenne
 * Twister would draw, so kiln's percentile bounds follow TICO's rule without
 * being TICO's bits. Ties between equal priorities keep the earlier value.
 */
#include "kiln_float.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

int kiln_reservoir_init(kiln_reservoir *r, size_t max_samples, size_t samples_per_batch, uint64_t seed) {
  r->values = malloc((max_samples ? max_samples : 1) * sizeof *r->values);
  r->priority = malloc((max_samples ? max_samples : 1) * sizeof *r->priority);
  r->n = 0;
  r->cap = max_samples;
  r->per_batch = samples_per_batch;
  r->rng = seed;
  r->calls = 0;
  r->min = INFINITY;
  r->max = -INFINITY;
  return r->values && r->priority ? 0 : -1;
}

void kiln_reservoir_free(kiln_reservoir *r) {
  free(r->values);
  free(r->priority);
  r->values = NULL;
  r->priority = NULL;
  r->n = r->cap = 0;
}

static void swap(kiln_reservoir *r, size_t a, size_t b) {
  float v = r->values[a];
  uint32_t p = r->priority[a];
  r->values[a] = r->values[b];
  r->priority[a] = r->priority[b];
  r->values[b] = v;
  r->priority[b] = p;
}

/* Restores the min-heap on priority below slot i. */
static void sift_down(kiln_reservoir *r, size_t i) {
  for (;;) {
    size_t low = i, left = 2 * i + 1, right = left + 1;
    if (left < r->n && r->priority[left] < r->priority[low]) low = left;
    if (right < r->n && r->priority[right] < r->priority[low]) low = right;
    if (low == i) return;
    swap(r, i, low);
    i = low;
  }
}

static void sift_up(kiln_reservoir *r, size_t i) {
  while (i > 0 && r->priority[(i - 1) / 2] > r->priority[i]) {
    swap(r, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void admit(kiln_reservoir *r, float v) {
  uint32_t p = (uint32_t)(splitmix64(&r->rng) >> 32);
  if (r->n < r->cap) {
    r->values[r->n] = v;
    r->priority[r->n] = p;
    sift_up(r, r->n++);
  } else if (r->cap > 0 && p > r->priority[0]) {
    r->values[0] = v;
    r->priority[0] = p;
    sift_down(r, 0);
  }
}

void kiln_reservoir_offer(kiln_reservoir *r, const float *x, size_t n) {
  if (r->cap == 0) return; /* an observer nobody asked a percentile of */
  size_t finite = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i])) continue;
    finite++;
    if (x[i] < r->min) r->min = x[i];
    if (x[i] > r->max) r->max = x[i];
  }
  if (finite == 0) return;
  /* TICO drops non-finite values before it samples; kiln's tensors are
   * finite wherever calibration succeeds, so the grid runs over all n */
  size_t count = n < r->per_batch ? n : r->per_batch;
  double phase = fmod((double)r->calls * 0.6180339887498949, 1.0);
  for (size_t i = 0; i < count; i++) {
    size_t at = count == n ? i : (size_t)floor(((double)i + phase) / (double)count * (double)n);
    if (isfinite(x[at])) admit(r, x[at]);
  }
  r->calls++;
}

static int ascending(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* torch.quantile's linear interpolation on sorted v[0..n): rank q * (n - 1),
 * and torch.lerp's two-sided formula. */
static double quantile(const double *v, size_t n, double q) {
  double rank = q * (double)(n - 1);
  size_t below = (size_t)floor(rank);
  size_t above = below + 1 < n ? below + 1 : below;
  double w = rank - (double)below, lo = v[below], hi = v[above];
  return w < 0.5 ? lo + w * (hi - lo) : hi - (hi - lo) * (1.0 - w);
}

int kiln_reservoir_bounds(const kiln_reservoir *r, double percentile, int symmetric, float *lo, float *hi) {
  if (r->n == 0) return -1;
  double *v = malloc(r->n * sizeof *v);
  if (!v) return -2;
  for (size_t i = 0; i < r->n; i++) v[i] = symmetric ? fabs((double)r->values[i]) : (double)r->values[i];
  qsort(v, r->n, sizeof *v, ascending);
  double mn, mx, q = percentile / 100.0;
  if (symmetric) {
    double t = percentile == 100.0 ? fmax(fabs((double)r->min), fabs((double)r->max)) : quantile(v, r->n, q);
    mn = -t;
    mx = t;
  } else if (percentile == 100.0) {
    mn = r->min;
    mx = r->max;
  } else if (r->min >= 0.0f) {
    mn = 0.0;
    mx = quantile(v, r->n, q);
  } else if (r->max <= 0.0f) {
    mn = quantile(v, r->n, 1.0 - q);
    mx = 0.0;
  } else {
    double tail = (1.0 - q) / 2.0;
    mn = quantile(v, r->n, tail);
    mx = quantile(v, r->n, 1.0 - tail);
  }
  free(v);
  /* zero stays representable, as TICO makes explicit */
  *lo = (float)fmin(mn, 0.0);
  *hi = (float)fmax(mx, 0.0);
  return 0;
}
