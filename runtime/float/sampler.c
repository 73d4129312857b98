/*
 * Token sampling exactly as llama2.c's run.c does it (greedy at temperature
 * 0, otherwise temperature, softmax and top-p with its xorshift generator),
 * so that `kiln run` reproduces run.c's text for a given seed.
 */
#include "kiln_float.h"
#include "kiln_math.h"

#include <math.h>
#include <stdlib.h>

int kiln_argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

static uint32_t random_u32(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

float kiln_random_f32(uint64_t *state) {
  return (float)(random_u32(state) >> 8) / 16777216.0f;
}

typedef struct {
  float prob;
  int index;
} prob_index;

/* Descending probability; equal probabilities keep index order (glibc's
 * qsort is a merge sort, so run.c sees them in that order too). */
static int by_prob_desc(const void *a, const void *b) {
  const prob_index *x = a, *y = b;
  if (x->prob > y->prob) return -1;
  if (x->prob < y->prob) return 1;
  return (x->index > y->index) - (x->index < y->index);
}

static int sample_mult(const float *p, int n, float coin) {
  float cdf = 0.0f;
  for (int i = 0; i < n; i++) {
    cdf += p[i];
    if (coin < cdf) return i;
  }
  return n - 1;
}

static int sample_topp(const float *p, int n, float topp, float coin) {
  prob_index *cand = malloc((size_t)n * sizeof *cand);
  if (!cand) return kiln_argmax(p, n);
  int n0 = 0;
  /* values below the cutoff can never be part of the nucleus */
  const float cutoff = (1.0f - topp) / (float)(n - 1);
  for (int i = 0; i < n; i++) {
    if (p[i] >= cutoff) {
      cand[n0].index = i;
      cand[n0].prob = p[i];
      n0++;
    }
  }
  qsort(cand, (size_t)n0, sizeof *cand, by_prob_desc);
  float cumulative = 0.0f;
  int last = n0 - 1;
  for (int i = 0; i < n0; i++) {
    cumulative += cand[i].prob;
    if (cumulative > topp) {
      last = i;
      break;
    }
  }
  float r = coin * cumulative;
  float cdf = 0.0f;
  int chosen = cand[last].index;
  for (int i = 0; i <= last; i++) {
    cdf += cand[i].prob;
    if (r < cdf) {
      chosen = cand[i].index;
      break;
    }
  }
  free(cand);
  return chosen;
}

/* logits is overwritten (scaled, then turned into probabilities). */
int kiln_sample(float *logits, int n, float temperature, float topp, float coin) {
  if (temperature == 0.0f) return kiln_argmax(logits, n);
  for (int i = 0; i < n; i++) logits[i] /= temperature;
  float mx = logits[0];
  for (int i = 1; i < n; i++)
    if (logits[i] > mx) mx = logits[i];
  float sum = 0.0f;
  for (int i = 0; i < n; i++) {
    logits[i] = kiln_expf(logits[i] - mx); /* run.c's expf, the same bits on every host */
    sum += logits[i];
  }
  for (int i = 0; i < n; i++) logits[i] /= sum;
  if (topp <= 0.0f || topp >= 1.0f) return sample_mult(logits, n, coin);
  return sample_topp(logits, n, topp, coin);
}
