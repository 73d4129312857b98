/*
 * The float model around the layer graph: token embedding, every decoder
 * layer (kiln_graph_run), final RMSNorm and classifier; a KV cache holding
 * each layer's new_k/new_v; RoPE tables and additive masks built as TICO's
 * runtimes build them (tico-semantics.md §3.4, §3.5).
 */
#include "kiln_float.h"
#include "kiln_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MASK_FILL (-120.0f) /* PTQConfig.attention_mask_fill_value */

/* inv_freq[i] = 1 / theta ** (2i / d) in float32, the power in kiln_math's
 * double rounded once; then the scaling, in float32 as transformers computes
 * it (its Python numbers meet float32 tensors, so they are rounded first). */
static float inv_frequency(int i, int hd, const kiln_rope *r) {
  const float e = (float)(2 * i) / (float)hd;
  const float inv = 1.0f / (float)kiln_exp((double)e * kiln_log((double)r->theta));
  if (r->type == KILN_ROPE_LINEAR) return inv / r->factor;
  if (r->type != KILN_ROPE_LLAMA3) return inv;
  const float low_wavelen = (float)((double)r->original_max_position / (double)r->low_freq_factor);
  const float high_wavelen = (float)((double)r->original_max_position / (double)r->high_freq_factor);
  const float wavelen = (float)6.283185307179586 / inv;
  const float scaled = wavelen > low_wavelen ? inv / r->factor : inv;
  if (wavelen < high_wavelen || wavelen > low_wavelen) return scaled;
  const float smooth = (r->original_max_position / wavelen - r->low_freq_factor) /
                       (float)((double)r->high_freq_factor - (double)r->low_freq_factor);
  return (1.0f - smooth) * scaled / r->factor + smooth * scaled;
}

void kiln_rope_tables(float *cos_table, float *sin_table, int max_seq, int hd, const kiln_rope *rope) {
  int half = hd / 2;
  for (int i = 0; i < half; i++) {
    const float inv_freq = inv_frequency(i, hd, rope);
    for (int pos = 0; pos < max_seq; pos++) {
      /* the angle in float32; cos and sin in kiln_math's double, rounded once */
      const float angle = (float)pos * inv_freq;
      double sd, cd;
      kiln_sincos((double)angle, &sd, &cd);
      const float c = (float)cd, s = (float)sd;
      /* emb = cat(freqs, freqs): entries i and i + d/2 share a frequency */
      cos_table[(size_t)pos * hd + i] = c;
      cos_table[(size_t)pos * hd + half + i] = c;
      sin_table[(size_t)pos * hd + i] = -s; /* pre_negated_sin */
      sin_table[(size_t)pos * hd + half + i] = s;
    }
  }
}

int kiln_model_init(kiln_float_model *m) {
  const kiln_model_dims *d = &m->dims;
  size_t M = (size_t)d->max_seq;
  size_t cache = (size_t)d->n_layers * d->Hk * M * d->hd;
  size_t past = (size_t)d->Hk * M * d->hd;
  if (kiln_graph_init(&m->graph, m->prog, &m->dims, sizeof(float)) != 0) return -1;
  if (kiln_graph_init(&m->head, m->head_prog, &m->dims, sizeof(float)) != 0) return -1;
  m->cache_k = calloc(cache, sizeof(float));
  m->cache_v = calloc(cache, sizeof(float));
  m->past_k = calloc(past, sizeof(float));
  m->past_v = calloc(past, sizeof(float));
  m->cos_table = malloc(M * d->hd * sizeof(float));
  m->sin_table = malloc(M * d->hd * sizeof(float));
  m->x = malloc(M * d->D * sizeof(float));
  m->mask = malloc(M * M * sizeof(float));
  m->logits = malloc(M * d->vocab * sizeof(float));
  if (!m->cache_k || !m->cache_v || !m->past_k || !m->past_v || !m->cos_table || !m->sin_table ||
      !m->x || !m->mask || !m->logits)
    return -1;
  kiln_rope_tables(m->cos_table, m->sin_table, d->max_seq, d->hd, &d->rope);
  m->range_min = m->range_max = m->head_min = m->head_max = NULL;
  m->ema_min = m->ema_max = m->batch_min = m->batch_max = NULL;
  m->reservoirs = NULL;
  m->params64 = m->mask64 = m->rope64 = NULL;
  m->param64_at = NULL;
  m->param_scales = NULL;
  m->param_rows = NULL;
  m->embed_fq.active = 0;
  m->mask_zero = 0.0f;
  m->mask_fill = MASK_FILL;
  return 0;
}

void kiln_model_input_fq(kiln_float_model *m, const kiln_fq *embed, const kiln_fq *mask, const kiln_fq *cos,
                         const kiln_fq *sin) {
  const size_t table = (size_t)m->dims.max_seq * m->dims.hd;
  m->embed_fq.active = 0;
  if (embed) m->embed_fq = *embed;
  m->mask_zero = 0.0f;
  m->mask_fill = MASK_FILL;
  if (mask && mask->active) {
    kiln_fake_quant(&m->mask_zero, &m->mask_zero, 1, mask);
    kiln_fake_quant(&m->mask_fill, &m->mask_fill, 1, mask);
  }
  if (cos && cos->active) kiln_fake_quant(m->cos_table, m->cos_table, table, cos);
  if (sin && sin->active) kiln_fake_quant(m->sin_table, m->sin_table, table, sin);
}

static size_t observer_count(const kiln_float_model *m) {
  return (size_t)m->dims.n_layers * m->prog->n_obs + (size_t)m->head_prog->n_obs;
}

static void free_ranges(kiln_float_model *m) {
  free(m->range_min); free(m->range_max);
  free(m->head_min); free(m->head_max);
  m->range_min = m->range_max = m->head_min = m->head_max = NULL;
  free(m->ema_min); free(m->ema_max); free(m->batch_min); free(m->batch_max);
  m->ema_min = m->ema_max = m->batch_min = m->batch_max = NULL;
  if (m->reservoirs) {
    for (size_t i = 0; i < observer_count(m); i++) kiln_reservoir_free(&m->reservoirs[i]);
    free(m->reservoirs);
    m->reservoirs = NULL;
  }
}

void kiln_model_free(kiln_float_model *m) {
  kiln_graph_free(&m->graph);
  kiln_graph_free(&m->head);
  if (m->params64) kiln_graph_free(&m->graph64);
  free(m->params64); free(m->param64_at); free(m->mask64); free(m->rope64);
  m->params64 = m->mask64 = m->rope64 = NULL;
  m->param64_at = NULL;
  free(m->cache_k); free(m->cache_v);
  free(m->past_k); free(m->past_v);
  free(m->cos_table); free(m->sin_table);
  free(m->x); free(m->mask); free(m->logits);
  free_ranges(m);
  m->cache_k = m->cache_v = m->past_k = m->past_v = NULL;
  m->cos_table = m->sin_table = m->x = m->mask = m->logits = NULL;
}

static float *new_ranges(size_t n, float init) {
  float *r = malloc((n ? n : 1) * sizeof(float));
  if (r)
    for (size_t i = 0; i < n; i++) r[i] = init;
  return r;
}

int kiln_model_observe(kiln_float_model *m, int on) {
  kiln_statistic_spec minmax = { 0, 0.0, NULL, 0, 0, 0 };
  if (!on) {
    free_ranges(m);
    return 0;
  }
  return kiln_model_observe_with(m, &minmax);
}

int kiln_model_observe_with(kiln_float_model *m, const kiln_statistic_spec *spec) {
  size_t n = (size_t)m->dims.n_layers * m->prog->n_obs;
  size_t nh = (size_t)m->head_prog->n_obs;
  free_ranges(m);
  m->range_min = new_ranges(n, INFINITY);
  m->range_max = new_ranges(n, -INFINITY);
  m->head_min = new_ranges(nh, INFINITY);
  m->head_max = new_ranges(nh, -INFINITY);
  int ok = m->range_min && m->range_max && m->head_min && m->head_max;
  if (ok && spec->ema) {
    m->ema_min = new_ranges(n + nh, INFINITY);
    m->ema_max = new_ranges(n + nh, -INFINITY);
    m->batch_min = new_ranges(n + nh, INFINITY);
    m->batch_max = new_ranges(n + nh, -INFINITY);
    ok = m->ema_min && m->ema_max && m->batch_min && m->batch_max;
  }
  if (ok && spec->sample) {
    m->reservoirs = calloc(n + nh, sizeof *m->reservoirs);
    ok = m->reservoirs != NULL;
    for (size_t i = 0; ok && i < n + nh; i++)
      ok = kiln_reservoir_init(&m->reservoirs[i], spec->sample[i] ? spec->max_samples : 0, spec->per_batch,
                               spec->seed) == 0;
  }
  if (!ok) {
    free_ranges(m);
    return -1;
  }
  m->ema_momentum = spec->momentum;
  return 0;
}

/* The layers' min/max a graph run widens: the ranges themselves, or under
 * EMA the forward's own (folded in by end_batch). */
static float *widened_min(kiln_float_model *m) { return m->batch_min ? m->batch_min : m->range_min; }
static float *widened_max(kiln_float_model *m) { return m->batch_max ? m->batch_max : m->range_max; }

/* After each forward: the exact ranges widened by the forward's, and EMA
 * moved as TICO's EMAObserver updates its float32 buffers after each call:
 * the first range an observer sees initialises it, later ones give
 * m * old + (1 - m) * new. An observer the forward did not reach keeps its
 * state. */
static void end_batch(kiln_float_model *m) {
  if (!m->batch_min) return;
  size_t n = (size_t)m->dims.n_layers * m->prog->n_obs, total = observer_count(m);
  /* torch turns each Python scalar into the tensor's float32 */
  const float keep = (float)m->ema_momentum, take = (float)(1.0 - m->ema_momentum);
  for (size_t i = 0; i < total; i++) {
    float *mn = i < n ? &m->range_min[i] : &m->head_min[i - n];
    float *mx = i < n ? &m->range_max[i] : &m->head_max[i - n];
    float bmin = m->batch_min[i], bmax = m->batch_max[i];
    m->batch_min[i] = INFINITY;
    m->batch_max[i] = -INFINITY;
    if (bmin == INFINITY && bmax == -INFINITY) continue;
    if (bmin < *mn) *mn = bmin;
    if (bmax > *mx) *mx = bmax;
    if (m->ema_min[i] == INFINITY && m->ema_max[i] == -INFINITY) {
      m->ema_min[i] = bmin;
      m->ema_max[i] = bmax;
    } else {
      m->ema_min[i] = keep * m->ema_min[i] + take * bmin;
      m->ema_max[i] = keep * m->ema_max[i] + take * bmax;
    }
  }
}

/* Binds the inputs of layer l (mask, RoPE rows, past, params) and runs it. */
static int run_layer(kiln_float_model *m, int l, const float *x, int S, int pos, const float *past_k,
                     const float *past_v) {
  const kiln_model_dims *d = &m->dims;
  const kiln_program *pg = m->prog;
  kiln_graph_state *g = &m->graph;
  int K = pos + S;
  /* Causal additive mask over the K keys: row s is position pos + s. */
  for (int s = 0; s < S; s++)
    for (int t = 0; t < K; t++) m->mask[(size_t)s * K + t] = t <= pos + s ? m->mask_zero : m->mask_fill;
  g->data[pg->ports[KILN_IN_MASK]] = m->mask;
  g->data[pg->ports[KILN_IN_COS]] = m->cos_table + (size_t)pos * d->hd;
  g->data[pg->ports[KILN_IN_SIN]] = m->sin_table + (size_t)pos * d->hd;
  g->data[pg->ports[KILN_IN_PAST_K]] = (float *)past_k;
  g->data[pg->ports[KILN_IN_PAST_V]] = (float *)past_v;
  g->data[pg->ports[KILN_IN_X]] = (float *)x;
  for (int p = 0; p < pg->n_params; p++) {
    const kiln_weights *w = &m->params[(size_t)l * pg->n_params + p];
    g->data[pg->param_slots[p]] = (void *)w->data;
    g->dtype[pg->param_slots[p]] = w->dtype;
  }
  size_t at = (size_t)l * pg->n_obs;
  float *mn = widened_min(m), *mx = widened_max(m);
  kiln_observe obs = { mn ? mn + at : NULL, mx ? mx + at : NULL, m->fq ? m->fq + at : NULL,
                       m->reservoirs ? m->reservoirs + at : NULL };
  return kiln_graph_run(g, S, pos, &obs);
}

int kiln_model_run_layer(kiln_float_model *m, int l, const float *x, int S, int pos, const float *past_k,
                         const float *past_v, float *y, float *new_k, float *new_v) {
  const kiln_model_dims *d = &m->dims;
  const kiln_program *pg = m->prog;
  if (l < 0 || l >= d->n_layers || S < 1 || pos < 0 || pos + S > d->max_seq) return -1;
  int rc = run_layer(m, l, x, S, pos, past_k, past_v);
  end_batch(m);
  if (rc != 0) return -1;
  size_t kv = (size_t)d->Hk * S * d->hd;
  memcpy(y, m->graph.data[pg->ports[KILN_OUT_Y]], (size_t)S * d->D * sizeof(float));
  memcpy(new_k, m->graph.data[pg->ports[KILN_OUT_NEW_K]], kv * sizeof(float));
  memcpy(new_v, m->graph.data[pg->ports[KILN_OUT_NEW_V]], kv * sizeof(float));
  return 0;
}

/* The double copies of the layer params and the scratch of double runs. */
static int prepare_f64(kiln_float_model *m) {
  const kiln_model_dims *d = &m->dims;
  const kiln_program *pg = m->prog;
  if (m->params64) return 0;
  size_t count = (size_t)d->n_layers * pg->n_params, total = 0;
  m->param64_at = malloc((count + 1) * sizeof *m->param64_at);
  if (!m->param64_at) return -1;
  /* param sizes from the slot shapes */
  if (kiln_graph_init(&m->graph64, pg, d, sizeof(double)) != 0) return -1;
  if (kiln_graph_bind_shapes(&m->graph64, 1, 0) != 0) return -1;
  total = 0;
  for (int l = 0; l < d->n_layers; l++)
    for (int p = 0; p < pg->n_params; p++) {
      m->param64_at[(size_t)l * pg->n_params + p] = total;
      total += m->graph64.numel[pg->param_slots[p]];
    }
  m->params64 = malloc((total ? total : 1) * sizeof(double));
  m->mask64 = malloc((size_t)d->max_seq * d->max_seq * sizeof(double));
  m->rope64 = malloc(2 * (size_t)d->max_seq * d->hd * sizeof(double));
  if (!m->params64 || !m->mask64 || !m->rope64) return -1;
  for (int l = 0; l < d->n_layers; l++)
    for (int p = 0; p < pg->n_params; p++) {
      size_t k = (size_t)l * pg->n_params + p;
      size_t at = m->param64_at[k], n = m->graph64.numel[pg->param_slots[p]];
      const kiln_weights *src = &m->params[k];
      if (m->param_scales && m->param_scales[k]) {
        /* w = (q - zp) * s rounded to float32: (q - zp) = rint(w / s) exactly */
        size_t rows = (size_t)m->param_rows[k], cols = n / rows;
        for (size_t r = 0; r < rows; r++) {
          double s = m->param_scales[k][r];
          for (size_t c = 0; c < cols; c++)
            m->params64[at + r * cols + c] = rint(kiln_stored(src->data, src->dtype, r * cols + c) / s) * s;
        }
      } else {
        for (size_t i = 0; i < n; i++) m->params64[at + i] = kiln_stored(src->data, src->dtype, i);
      }
    }
  return 0;
}

int kiln_model_run_layer_f64(kiln_float_model *m, int l, const double *x, int S, int pos, const double *past_k,
                             const double *past_v, double *y, double *new_k, double *new_v) {
  const kiln_model_dims *d = &m->dims;
  const kiln_program *pg = m->prog;
  kiln_graph_state *g = &m->graph64;
  if (l < 0 || l >= d->n_layers || S < 1 || pos < 0 || pos + S > d->max_seq) return -1;
  if (prepare_f64(m) != 0) return -1;
  int K = pos + S;
  for (int s = 0; s < S; s++)
    for (int t = 0; t < K; t++) m->mask64[(size_t)s * K + t] = t <= pos + s ? m->mask_zero : m->mask_fill;
  double *cos64 = m->rope64, *sin64 = m->rope64 + (size_t)d->max_seq * d->hd;
  for (size_t i = 0; i < (size_t)S * d->hd; i++) {
    cos64[i] = m->cos_table[(size_t)pos * d->hd + i];
    sin64[i] = m->sin_table[(size_t)pos * d->hd + i];
  }
  g->data[pg->ports[KILN_IN_MASK]] = m->mask64;
  g->data[pg->ports[KILN_IN_COS]] = cos64;
  g->data[pg->ports[KILN_IN_SIN]] = sin64;
  g->data[pg->ports[KILN_IN_PAST_K]] = (double *)past_k;
  g->data[pg->ports[KILN_IN_PAST_V]] = (double *)past_v;
  g->data[pg->ports[KILN_IN_X]] = (double *)x;
  for (int p = 0; p < pg->n_params; p++)
    g->data[pg->param_slots[p]] = m->params64 + m->param64_at[(size_t)l * pg->n_params + p];
  kiln_observe obs = { NULL, NULL, m->fq ? m->fq + (size_t)l * pg->n_obs : NULL, NULL };
  if (kiln_graph_run_f64(g, S, pos, &obs) != 0) return -1;
  size_t kv = (size_t)d->Hk * S * d->hd;
  memcpy(y, g->data[pg->ports[KILN_OUT_Y]], (size_t)S * d->D * sizeof(double));
  memcpy(new_k, g->data[pg->ports[KILN_OUT_NEW_K]], kv * sizeof(double));
  memcpy(new_v, g->data[pg->ports[KILN_OUT_NEW_V]], kv * sizeof(double));
  return 0;
}

int kiln_model_forward(kiln_float_model *m, const int *tokens, int S, int pos, int all_rows) {
  const kiln_model_dims *d = &m->dims;
  const kiln_program *pg = m->prog, *hp = m->head_prog;
  kiln_graph_state *g = &m->graph, *h = &m->head;
  int M = d->max_seq, hd = d->hd, Hk = d->Hk, D = d->D;
  if (S < 1 || pos < 0 || pos + S > M) return -1;

  for (int s = 0; s < S; s++) {
    if (tokens[s] < 0 || tokens[s] >= d->vocab) return -1;
    kiln_stored_to_f32(m->x + (size_t)s * D, m->embedding.data, m->embedding.dtype, (size_t)tokens[s] * D,
                       (size_t)D);
    if (m->embed_fq.active) kiln_fake_quant(m->x + (size_t)s * D, m->x + (size_t)s * D, (size_t)D, &m->embed_fq);
  }
  for (int l = 0; l < d->n_layers; l++) {
    size_t layer_base = (size_t)l * Hk * M * hd;
    float *ck = m->cache_k + layer_base, *cv = m->cache_v + layer_base;
    /* past = cache slots [0, pos), packed per head as the graph expects */
    for (int hh = 0; hh < Hk; hh++) {
      memcpy(m->past_k + (size_t)hh * pos * hd, ck + (size_t)hh * M * hd, (size_t)pos * hd * sizeof(float));
      memcpy(m->past_v + (size_t)hh * pos * hd, cv + (size_t)hh * M * hd, (size_t)pos * hd * sizeof(float));
    }
    if (m->capture) memcpy(m->capture + (size_t)l * S * D, m->x, (size_t)S * D * sizeof(float));
    if (run_layer(m, l, m->x, S, pos, m->past_k, m->past_v) != 0) return -1;

    /* keep the new tokens' K/V (the cache delta) at slots [pos, pos + S) */
    const float *nk = g->data[pg->ports[KILN_OUT_NEW_K]], *nv = g->data[pg->ports[KILN_OUT_NEW_V]];
    for (int hh = 0; hh < Hk; hh++) {
      memcpy(ck + ((size_t)hh * M + pos) * hd, nk + (size_t)hh * S * hd, (size_t)S * hd * sizeof(float));
      memcpy(cv + ((size_t)hh * M + pos) * hd, nv + (size_t)hh * S * hd, (size_t)S * hd * sizeof(float));
    }
    memcpy(m->x, g->data[pg->ports[KILN_OUT_Y]], (size_t)S * D * sizeof(float));
  }
  if (m->capture) memcpy(m->capture + (size_t)d->n_layers * S * D, m->x, (size_t)S * D * sizeof(float));

  int first = all_rows ? 0 : S - 1;
  h->data[hp->ports[KILN_IN_X]] = m->x + (size_t)first * D;
  for (int p = 0; p < hp->n_params; p++) {
    h->data[hp->param_slots[p]] = (void *)m->head_params[p].data;
    h->dtype[hp->param_slots[p]] = m->head_params[p].dtype;
  }
  const size_t layer_obs = (size_t)d->n_layers * pg->n_obs;
  kiln_observe obs = { m->batch_min ? m->batch_min + layer_obs : m->head_min,
                       m->batch_max ? m->batch_max + layer_obs : m->head_max, m->head_fq,
                       m->reservoirs ? m->reservoirs + layer_obs : NULL };
  int rc = kiln_graph_run(h, S - first, 0, &obs);
  end_batch(m);
  if (rc != 0) return -1;
  memcpy(m->logits, h->data[hp->ports[KILN_OUT_Y]], (size_t)(S - first) * d->vocab * sizeof(float));
  return 0;
}
