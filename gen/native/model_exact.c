/*
 * The exact fake-quant reference (kiln_native): one decoder layer in double
 * (graph_f64.c) on inputs given as integer codes on their grids, with the
 * weights' exact grid values (m:exact_weights).
 */
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* m:exact_weights(scales): the model's layer params are fake-quantized; scales
 * = { { per-row scale array per param } per layer } lets the exact (double)
 * reference use their exact grid values. Call before the first exact run. */
static int model_exact_weights(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  luaL_checktype(L, 2, LUA_TTABLE);
  int nl = u->m.dims.n_layers, np = u->m.prog->n_params;
  luaL_argcheck(L, !u->m.params64 && !u->param_scales, 1, "exact weights must be set once, before exact runs");
  luaL_argcheck(L, (int)lua_rawlen(L, 2) == nl, 2, "one list per layer");
  u->param_scales = calloc((size_t)nl * np, sizeof *u->param_scales);
  u->param_rows = calloc((size_t)nl * np, sizeof *u->param_rows);
  if (!u->param_scales || !u->param_rows) return luaL_error(L, "out of memory");
  for (int l = 0; l < nl; l++) {
    lua_rawgeti(L, 2, l + 1);
    luaL_argcheck(L, (int)lua_rawlen(L, -1) == np, 2, "one scale array per param");
    for (int p = 0; p < np; p++) {
      lua_rawgeti(L, -1, p + 1);
      int rows = (int)lua_rawlen(L, -1);
      size_t k = (size_t)l * np + p;
      u->param_scales[k] = malloc(((size_t)rows + 1) * sizeof(float));
      if (!u->param_scales[k]) return luaL_error(L, "out of memory");
      u->param_rows[k] = rows;
      for (int r = 0; r < rows; r++) {
        lua_rawgeti(L, -1, r + 1);
        u->param_scales[k][r] = (float)luaL_checknumber(L, -1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  u->m.param_scales = (const float *const *)u->param_scales;
  u->m.param_rows = u->param_rows;
  return 0;
}

/* Reads { scale =, zero_point = } at index i. */
static void grid_arg(lua_State *L, int i, double *scale, int *zp) {
  luaL_checktype(L, i, LUA_TTABLE);
  lua_getfield(L, i, "scale");
  *scale = (float)luaL_checknumber(L, -1); /* scales are float32 values */
  lua_getfield(L, i, "zero_point");
  *zp = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 2);
}

/* int16 codes at index i on a grid -> exact doubles (code - zp) * scale; a
 * float32 Tensor at i instead gives its values (the grid is not read). */
static double *codes_to_f64(lua_State *L, int i, int gi, size_t *n) {
  if (luaL_testudata(L, i, KILN_TENSOR)) {
    const tensor *t = tensor_check(L, i);
    const float *v = tensor_f32(L, i);
    *n = t->n;
    double *out = malloc((*n + 1) * sizeof *out);
    if (!out) luaL_error(L, "out of memory");
    for (size_t k = 0; k < *n; k++) out[k] = v[k];
    return out;
  }
  size_t len;
  const char *p = luaL_checklstring(L, i, &len);
  double scale;
  int zp;
  grid_arg(L, gi, &scale, &zp);
  *n = len / 2;
  double *out = malloc((*n + 1) * sizeof *out);
  if (!out) luaL_error(L, "out of memory");
  for (size_t k = 0; k < *n; k++) {
    int16_t q;
    memcpy(&q, p + 2 * k, 2);
    out[k] = (double)(q - zp) * scale;
  }
  return out;
}

static tensor *f64_tensor(lua_State *L, const double *x, size_t n) {
  tensor *t = tensor_new(L, n);
  float *y = t->data;
  for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
  return t;
}

/* m:run_layer_exact(layer, pos, x_codes, x_grid, k_codes, k_grid, v_codes, v_grid [, trace])
 * -> y, new_k, new_v [, { result per observer }]: the layer in double with
 * exact fake quantization (graph_f64.c) on inputs given as codes on their
 * grids ({ scale =, zero_point = }), or x as a float32 Tensor (a raw input,
 * as TICO's layer takes one; x_grid unused). Results are on their grids,
 * returned as float tensors (their codes quantize back exactly). */
/* One node's double result, as a float32 tensor. */
static void push_f64_slot(lua_State *L, int slot, const void *state) {
  const kiln_graph_state *g = state;
  f64_tensor(L, (const double *)g->data[slot], g->numel[slot]);
}

static int model_run_layer_exact(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2), pos = (int)luaL_checkinteger(L, 3);
  const int trace = lua_toboolean(L, 10); /* read before the results go on the stack */
  size_t nx, nk, nv;
  double *x = codes_to_f64(L, 4, 5, &nx);
  double *pk = codes_to_f64(L, 6, 7, &nk);
  double *pv = codes_to_f64(L, 8, 9, &nv);
  int S = (int)(nx / (size_t)d->D);
  size_t kv = (size_t)d->Hk * S * d->hd;
  double *out = malloc((nx + 2 * kv + 1) * sizeof *out);
  int rc = -1;
  if (out && nx % (size_t)d->D == 0 && nk == (size_t)d->Hk * pos * d->hd && nv == nk)
    rc = kiln_model_run_layer_f64(&u->m, l, x, S, pos, pk, pv, out, out + nx, out + nx + kv);
  free(x); free(pk); free(pv);
  if (rc != 0) {
    free(out);
    return luaL_error(L, "run_layer_exact: bad shapes or out of memory");
  }
  f64_tensor(L, out, nx);
  f64_tensor(L, out + nx, kv);
  f64_tensor(L, out + nx + kv, kv);
  free(out);
  if (!trace) return 3;
  push_observer_results(L, u->m.prog, push_f64_slot, &u->m.graph64);
  return 4;
}

const luaL_Reg model_exact_methods[] = {
    { "exact_weights", model_exact_weights },
    { "run_layer_exact", model_run_layer_exact },
    { NULL, NULL },
};
