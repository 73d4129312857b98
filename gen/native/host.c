/*
 * What the host offers (kiln_native): whether a descriptor is a terminal, a
 * monotonic clock, and the float products' kernels this CPU runs.
 */
#include <time.h>
#include <unistd.h>

#include "../../runtime/float/matmul.h"
#include "native.h"

/* native.matmul_kernels([name]) -> the name of the float products' kernels in
 * use; with a name ("auto", "portable", "avx2", "avx512"), uses those first,
 * or returns nil, message when this CPU cannot run them. */
static int l_matmul_kernels(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    const char *name = luaL_checkstring(L, 1);
    if (kiln_matmul_use(name) != 0) {
      lua_pushnil(L);
      lua_pushfstring(L, "'%s' is not a kernel set this CPU runs (auto, portable, avx2, avx512)", name);
      return 2;
    }
  }
  lua_pushstring(L, kiln_matmul_kernels());
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* native.monotonic() -> seconds on a monotonic clock (for wall-time measures) */
static int l_monotonic(lua_State *L) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  lua_pushnumber(L, (lua_Number)t.tv_sec + 1e-9 * (lua_Number)t.tv_nsec);
  return 1;
}

const luaL_Reg host_functions[] = {
    { "isatty", l_isatty },
    { "monotonic", l_monotonic },
    { "matmul_kernels", l_matmul_kernels },
    { NULL, NULL },
};
