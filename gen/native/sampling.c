/*
 * Sampling (kiln_native): the next token from logits, greedy or by
 * temperature and top-p, as runtime/float/sampler.c does it.
 */
#include "native.h"

/* native.argmax(t) -> 0-based index of the largest value */
static int l_argmax(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_pushinteger(L, kiln_argmax(tensor_f32(L, 1), (int)t->n));
  return 1;
}

/* native.sample(logits, temperature, topp, rng_state) -> token, new_state.
 * The logits tensor is consumed (overwritten). */
static int l_sample(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  float temperature = (float)luaL_checknumber(L, 2);
  float topp = (float)luaL_checknumber(L, 3);
  uint64_t state = (uint64_t)luaL_checkinteger(L, 4);
  float coin = temperature == 0.0f ? 0.0f : kiln_random_f32(&state);
  lua_pushinteger(L, kiln_sample(tensor_f32(L, 1), (int)t->n, temperature, topp, coin));
  lua_pushinteger(L, (lua_Integer)state);
  return 2;
}

const luaL_Reg sampling_functions[] = {
    { "argmax", l_argmax },
    { "sample", l_sample },
    { NULL, NULL },
};
