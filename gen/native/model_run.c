/*
 * Running the float model (kiln_native): the whole model on tokens (logits,
 * optionally each layer's input), its KV cache, one decoder layer alone
 * (optionally every observer's result), and the score of a text.
 */
#include <stdlib.h>
#include <string.h>

#include "../../runtime/float/kiln_math.h"
#include "native.h"

static int *check_tokens(lua_State *L, int i, int *n) {
  luaL_checktype(L, i, LUA_TTABLE);
  *n = (int)lua_rawlen(L, i);
  int *tok = malloc(((size_t)*n + 1) * sizeof *tok);
  if (!tok) luaL_error(L, "out of memory");
  for (int k = 0; k < *n; k++) {
    lua_rawgeti(L, i, k + 1);
    tok[k] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  return tok;
}

/* m:forward(tokens, pos, all_rows, capture) -> Tensor of logits ([S][vocab] or
 * [vocab]) [, Tensor [layers + 1][S][D]: each layer's input, then the last
 * layer's output, when capture is true] */
static int model_forward(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  int n;
  int *tok = check_tokens(L, 2, &n);
  int pos = (int)luaL_checkinteger(L, 3);
  int all = lua_toboolean(L, 4);
  int capture = lua_toboolean(L, 5);
  tensor *cap = NULL;
  if (capture) {
    cap = tensor_new(L, (size_t)(u->m.dims.n_layers + 1) * (size_t)n * (size_t)u->m.dims.D);
    u->m.capture = cap->data;
  }
  int rc = kiln_model_forward(&u->m, tok, n, pos, all);
  u->m.capture = NULL;
  free(tok);
  if (rc != 0) luaL_error(L, "forward: %d tokens at position %d do not fit (max_seq %d) or a token is out of range",
                          n, pos, u->m.dims.max_seq);
  size_t rows = all ? (size_t)n : 1;
  tensor *t = tensor_new(L, rows * (size_t)u->m.dims.vocab);
  memcpy(t->data, u->m.logits, t->n * sizeof(float));
  if (capture) {
    lua_insert(L, -2); /* logits first, then the capture */
    return 2;
  }
  return 1;
}

/* m:cache(layer, first, n) -> K, V tensors [Hk][n][hd]: cached slots [first, first + n) */
static int model_cache(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2), first = (int)luaL_checkinteger(L, 3), n = (int)luaL_checkinteger(L, 4);
  luaL_argcheck(L, l >= 0 && l < d->n_layers && first >= 0 && n >= 0 && first + n <= d->max_seq, 2, "out of range");
  for (int which = 0; which < 2; which++) {
    const float *c = (which ? u->m.cache_v : u->m.cache_k) + (size_t)l * d->Hk * d->max_seq * d->hd;
    tensor *t = tensor_new(L, (size_t)d->Hk * n * d->hd);
    for (int h = 0; h < d->Hk; h++)
      memcpy((float *)t->data + (size_t)h * n * d->hd, c + ((size_t)h * d->max_seq + first) * d->hd,
             (size_t)n * d->hd * sizeof(float));
  }
  return 2;
}

/* m:set_cache(l, first, k, v): the cache slots [first, first + n) of layer l
 * from k and v as m:cache returns them ([kv_heads][n][head_dim] float32):
 * a decode that continues another model's prefill (calibration's quantized
 * decode source). */
static int model_set_cache(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2), first = (int)luaL_checkinteger(L, 3);
  const tensor *src[2] = { tensor_check(L, 4), tensor_check(L, 5) };
  const size_t per_slot = (size_t)d->Hk * d->hd;
  luaL_argcheck(L, src[0]->n == src[1]->n && src[0]->n % per_slot == 0, 4, "k and v: [kv_heads][n][head_dim]");
  const int n = (int)(src[0]->n / per_slot);
  luaL_argcheck(L, l >= 0 && l < d->n_layers && first >= 0 && first + n <= d->max_seq, 2, "out of range");
  for (int which = 0; which < 2; which++) {
    float *c = (which ? u->m.cache_v : u->m.cache_k) + (size_t)l * d->Hk * d->max_seq * d->hd;
    const float *s = tensor_f32(L, 4 + which);
    for (int h = 0; h < d->Hk; h++)
      memcpy(c + ((size_t)h * d->max_seq + first) * d->hd, s + (size_t)h * n * d->hd, (size_t)n * d->hd * sizeof(float));
  }
  return 0;
}

/* m:run_layer(layer, x, pos, past_k, past_v [, trace]) -> y, new_k, new_v
 * [, { result tensor per observer }]: one decoder layer alone on x [S][D]
 * after the past [Hk][pos][hd] */
/* One node's result as float32: a weight observer's is the weight as
 * stored (fp16, bf16), converted. */
static void push_f32_slot(lua_State *L, int slot, const void *state) {
  const kiln_graph_state *g = state;
  tensor *t = tensor_new(L, g->numel[slot]);
  kiln_stored_to_f32(t->data, g->data[slot], g->dtype[slot], 0, g->numel[slot]);
}

static int model_run_layer(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2);
  tensor *x = tensor_check(L, 3);
  int pos = (int)luaL_checkinteger(L, 4);
  tensor *pk = tensor_check(L, 5), *pv = tensor_check(L, 6);
  const int trace = lua_toboolean(L, 7); /* read before the results go on the stack */
  luaL_argcheck(L, x->n % (size_t)d->D == 0, 3, "x is not [S][D]");
  int S = (int)(x->n / (size_t)d->D);
  size_t past = (size_t)d->Hk * pos * d->hd;
  luaL_argcheck(L, pk->n == past && pv->n == past, 5, "past is not [Hk][pos][hd]");
  tensor *y = tensor_new(L, x->n);
  tensor *nk = tensor_new(L, (size_t)d->Hk * S * d->hd);
  tensor *nv = tensor_new(L, (size_t)d->Hk * S * d->hd);
  if (kiln_model_run_layer(&u->m, l, x->data, S, pos, pk->data, pv->data, y->data, nk->data, nv->data) != 0)
    return luaL_error(L, "run_layer: layer %d, %d rows at %d do not fit", l, S, pos);
  if (!trace) return 3;
  push_observer_results(L, u->m.prog, push_f32_slot, &u->m.graph);
  return 4;
}

/* m:run_head(x [, trace]) -> logits [S][vocab] [, { result tensor per head
 * observer }]: the final norm and classifier alone on x [S][D] (GPTQ of
 * lm_head takes its inputs from the trace) */
static int model_run_head(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_program *hp = u->m.head_prog;
  kiln_graph_state *h = &u->m.head;
  tensor *x = tensor_check(L, 2);
  const int trace = lua_toboolean(L, 3);
  const size_t D = (size_t)u->m.dims.D;
  luaL_argcheck(L, x->dtype == KILN_FP32 && x->n % D == 0 && x->n / D >= 1, 2, "x is not float32 [S][D]");
  const int S = (int)(x->n / D);
  h->data[hp->ports[KILN_IN_X]] = x->data;
  for (int p = 0; p < hp->n_params; p++) {
    h->data[hp->param_slots[p]] = (void *)u->m.head_params[p].data;
    h->dtype[hp->param_slots[p]] = u->m.head_params[p].dtype;
  }
  kiln_observe none = { NULL, NULL, NULL, NULL };
  if (kiln_graph_run(h, S, 0, &none) != 0) return luaL_error(L, "run_head: %d rows do not fit", S);
  tensor *y = tensor_new(L, (size_t)S * (size_t)u->m.dims.vocab);
  memcpy(y->data, h->data[hp->ports[KILN_OUT_Y]], y->n * sizeof(float));
  if (!trace) return 1;
  push_observer_results(L, hp, push_f32_slot, h);
  return 2;
}

/* m:score(tokens) -> sum of -log p(tokens[i+1] | tokens[..i]) (double), count.
 * One prefill over tokens[1..n-1]; log-softmax accumulated in double. */
static int model_score(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  int n;
  int *tok = check_tokens(L, 2, &n);
  if (n < 2) {
    free(tok);
    lua_pushnumber(L, 0);
    lua_pushinteger(L, 0);
    return 2;
  }
  int rc = kiln_model_forward(&u->m, tok, n - 1, 0, 1);
  if (rc != 0) {
    free(tok);
    return luaL_error(L, "score: %d tokens do not fit (max_seq %d)", n, u->m.dims.max_seq);
  }
  int V = u->m.dims.vocab;
  double nll = 0.0;
  for (int i = 0; i < n - 1; i++) {
    const float *row = u->m.logits + (size_t)i * V;
    double mx = row[0];
    for (int j = 1; j < V; j++) if (row[j] > mx) mx = row[j];
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += kiln_exp((double)row[j] - mx);
    nll += mx + kiln_log(sum) - (double)row[tok[i + 1]];
  }
  free(tok);
  lua_pushnumber(L, nll);
  lua_pushinteger(L, n - 1);
  return 2;
}

const luaL_Reg model_run_methods[] = {
    { "forward", model_forward },
    { "score", model_score },
    { "cache", model_cache },
    { "set_cache", model_set_cache },
    { "run_layer", model_run_layer },
    { "run_head", model_run_head },
    { NULL, NULL },
};
