/*
 * Observer ranges (kiln_native): the float model records each observer's
 * minimum and maximum while observing, for calibration.
 */
#include "native.h"

/* m:observe(on): start (reset) or stop recording observer ranges */
static int model_observe(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (kiln_model_observe(&u->m, lua_toboolean(L, 2)) != 0) return luaL_error(L, "out of memory");
  return 0;
}

static void push_ranges(lua_State *L, const float *mn, const float *mx, int n) {
  lua_createtable(L, n, 0);
  for (int o = 0; o < n; o++) {
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, mn[o]);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, mx[o]);
    lua_setfield(L, -2, "max");
    lua_rawseti(L, -2, o + 1);
  }
}

/* m:ranges() -> { layers = { { {min=, max=} per observer } per layer }, head = {...} },
 * or nil if not observing */
static int model_ranges(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (!u->m.range_min) {
    lua_pushnil(L);
    return 1;
  }
  int nobs = u->m.prog->n_obs;
  lua_createtable(L, 0, 2);
  lua_createtable(L, u->m.dims.n_layers, 0);
  for (int l = 0; l < u->m.dims.n_layers; l++) {
    push_ranges(L, u->m.range_min + (size_t)l * nobs, u->m.range_max + (size_t)l * nobs, nobs);
    lua_rawseti(L, -2, l + 1);
  }
  lua_setfield(L, -2, "layers");
  push_ranges(L, u->m.head_min, u->m.head_max, u->m.head_prog->n_obs);
  lua_setfield(L, -2, "head");
  return 1;
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
    { NULL, NULL },
};
