/*
 * Observer ranges (kiln_native): the float model records each observer's
 * minimum and maximum while observing, for calibration.
 */
#include "native.h"

/* The observer count of the layers' block (the head's follows it). */
static size_t layer_observers(const kiln_float_model *m) { return (size_t)m->dims.n_layers * m->prog->n_obs; }

/* m:observe(on [, { ema = momentum, sample = { [block index + 1] = true },
 * max_samples, samples_per_batch, seed }]): start (reset) or stop recording
 * observer ranges; with the table also TICO's EMA ranges and percentile
 * reservoirs for the sampled observers (block index: layer * observers +
 * index, then the head's after all layers) */
static int model_observe(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  int on = lua_toboolean(L, 2);
  if (!on || lua_isnoneornil(L, 3)) {
    if (kiln_model_observe(&u->m, on) != 0) return luaL_error(L, "out of memory");
    return 0;
  }
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t total = layer_observers(&u->m) + (size_t)u->m.head_prog->n_obs;
  kiln_statistic_spec spec = { 0, 0.0, NULL, 131072, 4096, 0 };
  if (lua_getfield(L, 3, "ema") != LUA_TNIL) {
    spec.ema = 1;
    spec.momentum = luaL_checknumber(L, -1);
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 3, "max_samples") != LUA_TNIL) spec.max_samples = (size_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 3, "samples_per_batch") != LUA_TNIL) spec.per_batch = (size_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 3, "seed") != LUA_TNIL) spec.seed = (uint64_t)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  unsigned char *sample = NULL;
  if (lua_getfield(L, 3, "sample") == LUA_TTABLE) {
    sample = lua_newuserdatauv(L, total ? total : 1, 0); /* freed with the stack */
    for (size_t i = 0; i < total; i++) {
      sample[i] = lua_rawgeti(L, -2, (lua_Integer)i + 1) != LUA_TNIL && lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  spec.sample = sample;
  if (kiln_model_observe_with(&u->m, &spec) != 0) return luaL_error(L, "out of memory");
  return 0;
}

static void push_ranges(lua_State *L, const float *mn, const float *mx, const float *ema_min, const float *ema_max,
                        int n) {
  lua_createtable(L, n, 0);
  for (int o = 0; o < n; o++) {
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, mn[o]);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, mx[o]);
    lua_setfield(L, -2, "max");
    if (ema_min) {
      lua_pushnumber(L, ema_min[o]);
      lua_setfield(L, -2, "ema_min");
      lua_pushnumber(L, ema_max[o]);
      lua_setfield(L, -2, "ema_max");
    }
    lua_rawseti(L, -2, o + 1);
  }
}

/* m:ranges() -> { layers = { { {min=, max= [, ema_min=, ema_max=]} per observer } per layer },
 * head = {...} }, or nil if not observing */
static int model_ranges(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (!u->m.range_min) {
    lua_pushnil(L);
    return 1;
  }
  int nobs = u->m.prog->n_obs;
  const float *emin = u->m.ema_min, *emax = u->m.ema_max;
  lua_createtable(L, 0, 2);
  lua_createtable(L, u->m.dims.n_layers, 0);
  for (int l = 0; l < u->m.dims.n_layers; l++) {
    size_t at = (size_t)l * nobs;
    push_ranges(L, u->m.range_min + at, u->m.range_max + at, emin ? emin + at : NULL, emax ? emax + at : NULL, nobs);
    lua_rawseti(L, -2, l + 1);
  }
  lua_setfield(L, -2, "layers");
  size_t head = layer_observers(&u->m);
  push_ranges(L, u->m.head_min, u->m.head_max, emin ? emin + head : NULL, emax ? emax + head : NULL,
              u->m.head_prog->n_obs);
  lua_setfield(L, -2, "head");
  return 1;
}

/* m:clip_range(block index, percentile, symmetric) -> min, max: TICO's
 * percentile bounds of that observer's reservoir, or nil if it saw nothing */
static int model_clip_range(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  lua_Integer i = luaL_checkinteger(L, 2);
  double percentile = luaL_checknumber(L, 3);
  int symmetric = lua_toboolean(L, 4);
  size_t total = layer_observers(&u->m) + (size_t)u->m.head_prog->n_obs;
  luaL_argcheck(L, u->m.reservoirs && i >= 0 && (size_t)i < total && u->m.reservoirs[i].cap > 0, 2,
                "not a sampled observer");
  luaL_argcheck(L, percentile > 0.0 && percentile <= 100.0, 3, "percentile must be in (0, 100]");
  float lo, hi;
  int rc = kiln_reservoir_bounds(&u->m.reservoirs[i], percentile, symmetric, &lo, &hi);
  if (rc == -2) return luaL_error(L, "out of memory");
  if (rc != 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, lo);
  lua_pushnumber(L, hi);
  return 2;
}

void push_observer_results(lua_State *L, const kiln_program *pg, void (*push_slot)(lua_State *, int, const void *),
                           const void *state) {
  lua_createtable(L, pg->n_obs, 0);
  for (int i = 0; i < pg->n_nodes; i++) {
    const kiln_node *nd = &pg->nodes[i];
    if (nd->obs < 0) continue;
    push_slot(L, nd->out, state);
    lua_rawseti(L, -2, nd->obs + 1);
  }
}

const luaL_Reg model_observe_methods[] = {
    { "observe", model_observe },
    { "ranges", model_ranges },
    { "clip_range", model_clip_range },
    { NULL, NULL },
};
