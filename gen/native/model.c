/*
 * The float model (kiln_native): a kiln.Model built from its dims, programs
 * and weight tensors (runtime/float), its RoPE tables, and the choice of
 * OpenBLAS for its products.
 */
#include <stdlib.h>
#include <string.h>

#include "native.h"

int model_gc(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (u->ready) kiln_model_free(&u->m);
  free((void *)u->m.params);
  free((void *)u->m.head_params);
  free(u->fq);
  free(u->head_fq);
  if (u->param_scales) {
    for (int i = 0; i < u->m.dims.n_layers * u->m.prog->n_params; i++) free(u->param_scales[i]);
  }
  free(u->param_scales);
  free(u->param_rows);
  u->param_scales = NULL;
  u->param_rows = NULL;
  u->m.params = u->m.head_params = NULL;
  u->fq = u->head_fq = NULL;
  u->ready = 0;
  return 0;
}

static kiln_weights weights_of(const tensor *x) {
  kiln_weights w = { x->data, x->dtype };
  return w;
}

static kiln_weights tensor_field(lua_State *L, int t, const char *k, size_t want) {
  lua_getfield(L, t, k);
  tensor *x = tensor_check(L, -1);
  if (x->n != want) luaL_error(L, "model tensor '%s' has %d values, expected %d", k, (int)x->n, (int)want);
  lua_pop(L, 1);
  return weights_of(x);
}

/* Reads a list of n tensors at the top of the stack into out[]. */
static void tensor_list(lua_State *L, const char *what, kiln_weights *out, int n) {
  luaL_argcheck(L, (int)lua_rawlen(L, -1) == n, 1, what);
  for (int p = 0; p < n; p++) {
    lua_rawgeti(L, -1, p + 1);
    out[p] = weights_of(tensor_check(L, -1));
    lua_pop(L, 1);
  }
}

/* Reads model/rope.lua's { theta, type, factor, low, high, original } at index i. */
static void rope_arg(lua_State *L, int i, kiln_rope *r) {
  luaL_checktype(L, i, LUA_TTABLE);
  r->theta = number_field(L, i, "theta");
  const int type = int_field(L, i, "type", 0);
  luaL_argcheck(L, type >= KILN_ROPE_DEFAULT && type <= KILN_ROPE_LLAMA3, i, "unknown RoPE type");
  r->type = (enum kiln_rope_type)type;
  r->factor = number_field(L, i, "factor");
  r->low_freq_factor = number_field(L, i, "low");
  r->high_freq_factor = number_field(L, i, "high");
  r->original_max_position = number_field(L, i, "original");
}

/* native.model{ D=, H=, Hk=, hd=, I=, vocab=, layers=, max_seq=, rms_eps=, rope=,
 *               program=P, head_program=P, embedding=T,
 *               params = { {T per layer-graph param} per layer }, head_params = {T per head param} }
 * The model keeps references to every tensor it was given. */
static int model_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  model_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, MODEL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* keep the spec (and so its tensors) alive */

  kiln_model_dims *d = &u->m.dims;
  d->D = int_field(L, 1, "D", 0);
  d->H = int_field(L, 1, "H", 0);
  d->Hk = int_field(L, 1, "Hk", 0);
  d->hd = int_field(L, 1, "hd", 0);
  d->inter = int_field(L, 1, "I", 0);
  d->vocab = int_field(L, 1, "vocab", 0);
  d->n_layers = int_field(L, 1, "layers", 0);
  d->max_seq = int_field(L, 1, "max_seq", 0);
  lua_getfield(L, 1, "rms_eps");
  d->rms_eps = (float)luaL_checknumber(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "rope");
  rope_arg(L, lua_gettop(L), &d->rope);
  lua_pop(L, 1);
  luaL_argcheck(L, d->D > 0 && d->H > 0 && d->Hk > 0 && d->H % d->Hk == 0 && d->hd > 0 && d->hd % 2 == 0 &&
                       d->inter > 0 && d->vocab > 0 && d->n_layers > 0 && d->max_seq > 0,
                1, "bad model dims");

  lua_getfield(L, 1, "program");
  u->m.prog = luaL_checkudata(L, -1, PROGRAM);
  lua_getfield(L, 1, "head_program");
  u->m.head_prog = luaL_checkudata(L, -1, PROGRAM);
  lua_pop(L, 2);
  u->m.embedding = tensor_field(L, 1, "embedding", (size_t)d->vocab * d->D);

  int np = u->m.prog->n_params;
  kiln_weights *params = calloc((size_t)d->n_layers * np + 1, sizeof *params);
  kiln_weights *head_params = calloc((size_t)u->m.head_prog->n_params + 1, sizeof *head_params);
  u->m.params = params;
  u->m.head_params = head_params;
  if (!params || !head_params) return luaL_error(L, "out of memory");
  lua_getfield(L, 1, "params");
  luaL_argcheck(L, (int)lua_rawlen(L, -1) == d->n_layers, 1, "params: one list per layer");
  for (int l = 0; l < d->n_layers; l++) {
    lua_rawgeti(L, -1, l + 1);
    tensor_list(L, "params: one tensor per layer-graph param", params + (size_t)l * np, np);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "head_params");
  tensor_list(L, "head_params: one tensor per head-graph param", head_params, u->m.head_prog->n_params);
  lua_pop(L, 1);
  if (kiln_model_init(&u->m) != 0) luaL_error(L, "out of memory for the float model");
  u->ready = 1;
  return 1;
}

/* native.rope_tables(max_seq, head_dim, rope) -> cos, sin tensors [max_seq][head_dim]
 * (rope: model/rope.lua's native form) */
static int l_rope_tables(lua_State *L) {
  int M = (int)luaL_checkinteger(L, 1), hd = (int)luaL_checkinteger(L, 2);
  kiln_rope rope;
  rope_arg(L, 3, &rope);
  luaL_argcheck(L, M > 0 && hd > 0 && hd % 2 == 0, 1, "bad RoPE table shape");
  tensor *c = tensor_new(L, (size_t)M * hd);
  tensor *s = tensor_new(L, (size_t)M * hd);
  kiln_rope_tables(c->data, s->data, M, hd, &rope);
  return 2;
}

/* m:use_openblas(on): the float32 products through OpenBLAS's sgemm instead
 * of kiln_matmul (the benchmark's baseline: fast, but its sums depend on the
 * host), or back. */
static int model_use_openblas(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  u->m.graph.openblas = u->m.head.openblas = lua_toboolean(L, 2);
  return 0;
}

const luaL_Reg model_functions[] = {
    { "model", model_new },
    { "rope_tables", l_rope_tables },
    { NULL, NULL },
};

const luaL_Reg model_methods[] = {
    { "use_openblas", model_use_openblas },
    { NULL, NULL },
};
