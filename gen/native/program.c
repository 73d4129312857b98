/*
 * The layer program (kiln_native): a graph lowered by the Lua side into
 * slots and nodes, as the float model (runtime/float) runs it.
 */
#include <stdlib.h>
#include <string.h>

#include "native.h"

int program_gc(lua_State *L) {
  kiln_program *p = luaL_checkudata(L, 1, PROGRAM);
  free(p->slots);
  free(p->nodes);
  free(p->param_slots);
  p->slots = NULL;
  p->nodes = NULL;
  p->param_slots = NULL;
  return 0;
}


/* native.program{ slots = {{kind=, dims={{c[,c]},...}}...}, nodes = {{op=,out=,a=,b=,obs=,arg=}...},
 *                 params = {slot...}, ports = {slot...}, n_obs = } with 0-based slots */
static int program_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  kiln_program *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, PROGRAM);

  lua_getfield(L, 1, "slots");
  p->n_slots = (int)lua_rawlen(L, -1);
  p->slots = calloc((size_t)p->n_slots, sizeof *p->slots);
  for (int i = 0; i < p->n_slots; i++) {
    lua_rawgeti(L, -1, i + 1);
    int st = lua_gettop(L);
    p->slots[i].kind = int_field(L, st, "kind", KILN_SLOT_TEMP);
    lua_getfield(L, st, "dims");
    p->slots[i].rank = (int)lua_rawlen(L, -1);
    luaL_argcheck(L, p->slots[i].rank <= KILN_MAX_RANK, 1, "tensor rank too high");
    for (int r = 0; r < KILN_MAX_RANK; r++)
      for (int f = 0; f < KILN_MAX_FACTORS; f++) p->slots[i].factors[r][f] = -1;
    for (int r = 0; r < p->slots[i].rank; r++) {
      lua_rawgeti(L, -1, r + 1);
      int nf = (int)lua_rawlen(L, -1);
      luaL_argcheck(L, nf <= KILN_MAX_FACTORS, 1, "too many factors in a dim");
      for (int f = 0; f < nf; f++) {
        lua_rawgeti(L, -1, f + 1);
        p->slots[i].factors[r][f] = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "nodes");
  p->n_nodes = (int)lua_rawlen(L, -1);
  p->nodes = calloc((size_t)p->n_nodes, sizeof *p->nodes);
  for (int i = 0; i < p->n_nodes; i++) {
    lua_rawgeti(L, -1, i + 1);
    int nt = lua_gettop(L);
    kiln_node *nd = &p->nodes[i];
    nd->op = int_field(L, nt, "op", -1);
    nd->out = int_field(L, nt, "out", -1);
    nd->in[0] = int_field(L, nt, "a", -1);
    nd->in[1] = int_field(L, nt, "b", -1);
    nd->obs = int_field(L, nt, "obs", -1);
    nd->arg = int_field(L, nt, "arg", 0);
    luaL_argcheck(L, nd->op >= 0 && nd->op < KILN_OP_COUNT, 1, "unknown op code");
    luaL_argcheck(L, nd->out >= 0 && nd->out < p->n_slots, 1, "bad output slot");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "params");
  p->n_params = (int)lua_rawlen(L, -1);
  p->param_slots = calloc((size_t)p->n_params + 1, sizeof *p->param_slots);
  for (int i = 0; i < p->n_params; i++) {
    lua_rawgeti(L, -1, i + 1);
    p->param_slots[i] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "ports");
  luaL_argcheck(L, lua_rawlen(L, -1) == KILN_PORT_COUNT, 1, "ports: wrong count");
  for (int i = 0; i < KILN_PORT_COUNT; i++) {
    lua_rawgeti(L, -1, i + 1);
    p->ports[i] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  p->n_obs = int_field(L, 1, "n_obs", 0);
  return 1;
}

const luaL_Reg program_functions[] = {
    { "program", program_new },
    { NULL, NULL },
};
