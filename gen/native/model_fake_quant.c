/*
 * TICO's QUANT mode on the float model (kiln_native): fake quantization at
 * each observer, as the calibrated qparams give it.
 */
#include <stdlib.h>
#include <string.h>

#include "native.h"

/* Reads { {scale=, zero_point=, qmin=, qmax=} | false per observer } into n kiln_fq. */
static kiln_fq *fq_list(lua_State *L, int t, int n) {
  luaL_argcheck(L, (int)lua_rawlen(L, t) == n, 2, "fake-quant list: one entry per observer");
  kiln_fq *fq = calloc((size_t)n + 1, sizeof *fq);
  if (!fq) luaL_error(L, "out of memory");
  for (int i = 0; i < n; i++) {
    if (lua_rawgeti(L, t, i + 1) == LUA_TTABLE) {
      int e = lua_gettop(L);
      fq[i].active = 1;
      lua_getfield(L, e, "scale");
      fq[i].scale = (float)luaL_checknumber(L, -1);
      lua_pop(L, 1);
      fq[i].zero_point = int_field(L, e, "zero_point", 0);
      fq[i].qmin = int_field(L, e, "qmin", 0);
      fq[i].qmax = int_field(L, e, "qmax", 0);
    }
    lua_pop(L, 1);
  }
  return fq;
}

/* Reads field k of table t ({scale=, zero_point=, qmin=, qmax=} or absent) into q. */
static const kiln_fq *fq_field(lua_State *L, int t, const char *k, kiln_fq *q) {
  const kiln_fq *found = NULL;
  if (lua_getfield(L, t, k) == LUA_TTABLE) {
    const int e = lua_gettop(L);
    q->active = 1;
    q->scale = number_field(L, e, "scale");
    q->zero_point = int_field(L, e, "zero_point", 0);
    q->qmin = int_field(L, e, "qmin", 0);
    q->qmax = int_field(L, e, "qmax", 0);
    found = q;
  }
  lua_pop(L, 1);
  return found;
}

/* m:fake_quant(layers, head [, inputs]): TICO's QUANT mode. layers = { {per observer} per layer },
 * head = {per observer}; an entry is {scale=, zero_point=, qmin=, qmax=} or false
 * (pass-through, for weight observers: give the model fake-quantized weights).
 * inputs = { embed =, mask =, cos =, sin = }: the model-level observers
 * (kiln_model_input_fq; once per model). m:fake_quant(nil) takes the layers
 * and the head back to float. */
static int model_fake_quant(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  free(u->fq);
  free(u->head_fq);
  u->fq = u->head_fq = NULL;
  u->m.fq = u->m.head_fq = NULL;
  if (lua_isnoneornil(L, 2)) return 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int nl = u->m.dims.n_layers, no = u->m.prog->n_obs;
  luaL_argcheck(L, (int)lua_rawlen(L, 2) == nl, 2, "one list per layer");
  u->fq = calloc((size_t)nl * no + 1, sizeof *u->fq);
  if (!u->fq) return luaL_error(L, "out of memory");
  for (int l = 0; l < nl; l++) {
    lua_rawgeti(L, 2, l + 1);
    kiln_fq *one = fq_list(L, lua_gettop(L), no);
    memcpy(u->fq + (size_t)l * no, one, (size_t)no * sizeof *one);
    free(one);
    lua_pop(L, 1);
  }
  u->head_fq = fq_list(L, 3, u->m.head_prog->n_obs);
  u->m.fq = u->fq;
  u->m.head_fq = u->head_fq;
  if (lua_istable(L, 4)) {
    kiln_fq q[4];
    const kiln_fq *embed = fq_field(L, 4, "embed", &q[0]), *mask = fq_field(L, 4, "mask", &q[1]);
    const kiln_fq *cos = fq_field(L, 4, "cos", &q[2]), *sin = fq_field(L, 4, "sin", &q[3]);
    kiln_model_input_fq(&u->m, embed, mask, cos, sin);
  }
  return 0;
}

const luaL_Reg model_fake_quant_methods[] = {
    { "fake_quant", model_fake_quant },
    { NULL, NULL },
};
