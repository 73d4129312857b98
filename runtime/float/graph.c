/*
 * Graph execution, the parts that do not depend on the precision: shapes,
 * buffers. The ops themselves are in graph_ops.inc, compiled in float32
 * (graph_f32.c, the float reference) and in float64 (graph_f64.c, the exact
 * fake-quant reference).
 */
#include "kiln_float.h"

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

int kiln_graph_init(kiln_graph_state *st, const kiln_program *prog, const kiln_model_dims *dims, size_t elem) {
  memset(st, 0, sizeof *st);
  st->prog = prog;
  st->dims = dims;
  st->elem = elem;
  st->data = calloc((size_t)prog->n_slots, sizeof *st->data);
  st->buf = calloc((size_t)prog->n_slots, sizeof *st->buf);
  st->cap = calloc((size_t)prog->n_slots, sizeof *st->cap);
  st->numel = calloc((size_t)prog->n_slots, sizeof *st->numel);
  st->shape = calloc((size_t)prog->n_slots, sizeof *st->shape);
  st->dtype = calloc((size_t)prog->n_slots, sizeof *st->dtype); /* all KILN_FP32 */
  if (!st->data || !st->buf || !st->cap || !st->numel || !st->shape || !st->dtype) return -1;
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
    st->buf[i] = malloc(st->cap[i] * elem);
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
  free(st->dtype);
  memset(st, 0, sizeof *st);
}


int kiln_graph_bind_shapes(kiln_graph_state *st, int S, int P) {
  const kiln_program *pg = st->prog;
  for (int i = 0; i < pg->n_slots; i++) {
    st->numel[i] = eval_shape(&pg->slots[i], st->dims, S, P, st->shape[i]);
    if (pg->slots[i].kind == KILN_SLOT_TEMP) {
      if (st->numel[i] > st->cap[i]) return -1;
      st->data[i] = st->buf[i];
      st->dtype[i] = KILN_FP32;
    }
  }
  return 0;
}
