/*
 * Executes the decoder-layer graph in fp32, node by node.
 *
 * Layouts (row-major): activations [S][n][d] (token-major, like the linear
 * outputs they come from), cache tensors [n][K][d] (head-major, like TICO's
 * past/present), attention scores [H][S][K].
 *
 * quant nodes are the identity in float: their output aliases their input
 * (no copy); only their observer records the range.
 */
#include "kiln_float.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int dim_value(int code, const kiln_model_dims *md, int S, int P) {
  switch (code) {
  case KILN_DIM_S: return S;
  case KILN_DIM_P: return P;
  case KILN_DIM_K: return P + S;
  case KILN_DIM_D: return md->D;
  case KILN_DIM_H: return md->H;
  case KILN_DIM_HK: return md->Hk;
  case KILN_DIM_HD: return md->hd;
  case KILN_DIM_HD2: return md->hd / 2;
  case KILN_DIM_I: return md->inter;
  case KILN_DIM_V: return md->vocab;
  default: return 1;
  }
}

static size_t eval_shape(const kiln_slot_decl *sd, const kiln_model_dims *md, int S, int P,
                         int out[KILN_MAX_RANK]) {
  size_t n = 1;
  for (int r = 0; r < KILN_MAX_RANK; r++) {
    int v = 1;
    if (r < sd->rank) {
      for (int f = 0; f < KILN_MAX_FACTORS; f++)
        if (sd->factors[r][f] >= 0) v *= dim_value(sd->factors[r][f], md, S, P);
    }
    out[r] = v;
    n *= (size_t)v;
  }
  return n;
}

int kiln_graph_init(kiln_graph_state *st, const kiln_program *prog, const kiln_model_dims *dims) {
  memset(st, 0, sizeof *st);
  st->prog = prog;
  st->dims = dims;
  st->data = calloc((size_t)prog->n_slots, sizeof *st->data);
  st->buf = calloc((size_t)prog->n_slots, sizeof *st->buf);
  st->cap = calloc((size_t)prog->n_slots, sizeof *st->cap);
  st->numel = calloc((size_t)prog->n_slots, sizeof *st->numel);
  st->shape = calloc((size_t)prog->n_slots, sizeof *st->shape);
  if (!st->data || !st->buf || !st->cap || !st->numel || !st->shape) return -1;
  /* Capacity: the largest any call can need, with S + P <= max_seq. Shapes
   * are products of S, P and K = S + P, so the corners and the middle bound
   * them. */
  const int M = dims->max_seq;
  const int corners[3][2] = { { M, 0 }, { 1, M - 1 }, { (M + 1) / 2, M / 2 } };
  for (int i = 0; i < prog->n_slots; i++) {
    if (prog->slots[i].kind != KILN_SLOT_TEMP) continue;
    int shape[KILN_MAX_RANK];
    for (int c = 0; c < 3; c++) {
      size_t n = eval_shape(&prog->slots[i], dims, corners[c][0], corners[c][1], shape);
      if (n > st->cap[i]) st->cap[i] = n;
    }
    st->buf[i] = malloc(st->cap[i] * sizeof(float));
    if (!st->buf[i]) return -1;
  }
  return 0;
}

void kiln_graph_free(kiln_graph_state *st) {
  if (st->prog && st->buf) {
    for (int i = 0; i < st->prog->n_slots; i++) free(st->buf[i]);
  }
  free(st->data);
  free(st->buf);
  free(st->cap);
  free(st->numel);
  free(st->shape);
  memset(st, 0, sizeof *st);
}

/* ---- ops ---------------------------------------------------------------- */

static void rmsnorm(float *y, const float *x, const float *w, int rows, int n, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * n;
    float *yr = y + (size_t)r * n;
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += xr[j] * xr[j];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++) yr[j] = w[j] * (ss * xr[j]);
  }
}

/* y[rows][out] = x[rows][in] . W[out][in]^T */
static void linear(float *y, const float *x, const float *w, int rows, int in, int out) {
  if (rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1, 0.0f, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, w, in,
                0.0f, y, out);
  }
}

static void softmax_rows(float *y, const float *x, size_t rows, int n) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * (size_t)n;
    float *yr = y + r * (size_t)n;
    float mx = xr[0];
    for (int j = 1; j < n; j++) if (xr[j] > mx) mx = xr[j];
    float sum = 0.0f;
    for (int j = 0; j < n; j++) { yr[j] = expf(xr[j] - mx); sum += yr[j]; }
    for (int j = 0; j < n; j++) yr[j] /= sum;
  }
}

/* TICO's fake quantization, bit for bit as ATen's CPU kernel: multiply by the
 * float reciprocal, round half to even, clamp in float, dequantize. */
void kiln_fake_quant(float *y, const float *x, size_t n, const kiln_fq *q) {
  const float inv = 1.0f / q->scale;
  const float lo = (float)q->qmin, hi = (float)q->qmax;
  for (size_t i = 0; i < n; i++) {
    float qf = (float)q->zero_point + rintf(x[i] * inv);
    qf = fminf(fmaxf(qf, lo), hi);
    y[i] = (float)((int)qf - q->zero_point) * q->scale;
  }
}

static void observe(const float *x, size_t n, float *mn, float *mx) {
  float lo = *mn, hi = *mx;
  for (size_t i = 0; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  *mn = lo;
  *mx = hi;
}

int kiln_graph_run(kiln_graph_state *st, int S, int P, const kiln_observe *obs) {
  const kiln_program *pg = st->prog;
  const kiln_model_dims *md = st->dims;
  for (int i = 0; i < pg->n_slots; i++) {
    st->numel[i] = eval_shape(&pg->slots[i], md, S, P, st->shape[i]);
    if (pg->slots[i].kind == KILN_SLOT_TEMP) {
      if (st->numel[i] > st->cap[i]) return -1;
      st->data[i] = st->buf[i];
    }
  }

  for (int k = 0; k < pg->n_nodes; k++) {
    const kiln_node *nd = &pg->nodes[k];
    const int o = nd->out, a = nd->in[0], b = nd->in[1];
    const int *os = st->shape[o];
    const size_t n = st->numel[o];
    float *y = st->data[o];
    const float *x = a >= 0 ? st->data[a] : NULL;
    const float *x2 = b >= 0 ? st->data[b] : NULL;

    switch (nd->op) {
    case KILN_OP_QUANT:
      /* identity in float: alias, unless this observer fake-quantizes */
      if (obs && obs->fq && nd->obs >= 0 && obs->fq[nd->obs].active)
        memcpy(y, x, n * sizeof(float));
      else
        st->data[o] = y = st->data[a];
      break;
    case KILN_OP_RMSNORM:
      rmsnorm(y, x, x2, os[0], os[1], md->rms_eps);
      break;
    case KILN_OP_LINEAR: {
      int rows = st->shape[a][0];
      int in = (int)(st->numel[a] / (size_t)rows);
      linear(y, x, x2, rows, in, (int)(n / (size_t)rows));
      break;
    }
    case KILN_OP_HALF: { /* [S n d] -> [S n d/2] */
      int half = os[2];
      size_t groups = (size_t)os[0] * (size_t)os[1];
      for (size_t g = 0; g < groups; g++)
        memcpy(y + g * half, x + g * 2 * half + (nd->arg == 2 ? half : 0), (size_t)half * sizeof(float));
      break;
    }
    case KILN_OP_CAT_HALVES: { /* [S n d/2] ++ [S n d/2] -> [S n d] */
      int half = os[2] / 2;
      size_t groups = (size_t)os[0] * (size_t)os[1];
      for (size_t g = 0; g < groups; g++) {
        memcpy(y + g * 2 * half, x + g * half, (size_t)half * sizeof(float));
        memcpy(y + g * 2 * half + half, x2 + g * half, (size_t)half * sizeof(float));
      }
      break;
    }
    case KILN_OP_MUL_ROPE: { /* [S n d] * table[S d] */
      int rows = os[0], heads = os[1], d = os[2];
      for (int s = 0; s < rows; s++)
        for (int h = 0; h < heads; h++) {
          size_t base = ((size_t)s * heads + h) * d;
          for (int e = 0; e < d; e++) y[base + e] = x[base + e] * x2[(size_t)s * d + e];
        }
      break;
    }
    case KILN_OP_ADD:
      for (size_t i = 0; i < n; i++) y[i] = x[i] + x2[i];
      break;
    case KILN_OP_MUL:
      for (size_t i = 0; i < n; i++) y[i] = x[i] * x2[i];
      break;
    case KILN_OP_SIGMOID:
      for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
      break;
    case KILN_OP_CACHE_CAT: { /* past [n P d], new [S n d] -> [n K d] */
      int heads = os[0], K = os[1], d = os[2];
      int past = K - S;
      for (int h = 0; h < heads; h++) {
        float *yh = y + (size_t)h * K * d;
        memcpy(yh, x + (size_t)h * past * d, (size_t)past * d * sizeof(float));
        for (int s = 0; s < S; s++)
          memcpy(yh + (size_t)(past + s) * d, x2 + ((size_t)s * heads + h) * d, (size_t)d * sizeof(float));
      }
      break;
    }
    case KILN_OP_QK: { /* q [S H d], k [Hk K d] -> [H S K] */
      int H = os[0], rows = os[1], K = os[2];
      int Hk = st->shape[b][0], d = st->shape[b][2];
      int group = H / Hk;
      for (int j = 0; j < H; j++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, K, d, 1.0f, x + (size_t)j * d, H * d,
                    x2 + (size_t)(j / group) * K * d, d, 0.0f, y + (size_t)j * rows * K, K);
      break;
    }
    case KILN_OP_ADD_MASK: { /* [H S K] + mask [S K] */
      size_t plane = (size_t)os[1] * os[2];
      for (int j = 0; j < os[0]; j++)
        for (size_t i = 0; i < plane; i++) y[j * plane + i] = x[j * plane + i] + x2[i];
      break;
    }
    case KILN_OP_SOFTMAX:
      softmax_rows(y, x, n / (size_t)os[2], os[2]);
      break;
    case KILN_OP_PV: { /* p [H S K], v [Hk K d] -> [S H d] */
      int rows = os[0], H = os[1], d = os[2];
      int Hk = st->shape[b][0], K = st->shape[b][1];
      int group = H / Hk;
      for (int j = 0; j < H; j++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, K, 1.0f, x + (size_t)j * rows * K, K,
                    x2 + (size_t)(j / group) * K * d, d, 0.0f, y + (size_t)j * d, H * d);
      break;
    }
    case KILN_OP_HEADS_FIRST: { /* [S n d] -> [n S d] */
      int heads = os[0], rows = os[1], d = os[2];
      for (int s = 0; s < rows; s++)
        for (int h = 0; h < heads; h++)
          memcpy(y + ((size_t)h * rows + s) * d, x + ((size_t)s * heads + h) * d, (size_t)d * sizeof(float));
      break;
    }
    default:
      return -1;
    }

    if (obs && nd->obs >= 0 && !(nd->op == KILN_OP_QUANT && pg->slots[a].kind == KILN_SLOT_PARAM)) {
      if (obs->min) observe(y, n, &obs->min[nd->obs], &obs->max[nd->obs]);
      if (obs->fq && obs->fq[nd->obs].active) kiln_fake_quant(y, y, n, &obs->fq[nd->obs]);
    }
  }
  return 0;
}
