/*
 * What the host offers (kiln_native): whether a descriptor is a terminal, a
 * monotonic clock, the float products' kernels this CPU runs, and a memory
 * budget for the Lua data files kiln runs.
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

/* A budget on the Lua state's allocations: the wrapper passes every request
 * to the state's own allocator and counts the bytes; while a budget is set,
 * a request that grows the count past it fails, which Lua raises as "not
 * enough memory" in the code that asked. Frees and shrinks always pass. */
typedef struct {
  lua_Alloc base;
  void *base_ud;
  long long balance; /* bytes allocated since the budget was set (may be negative) */
  long long limit;   /* the balance a request may not pass */
  int on;
} memory_budget;

static memory_budget budget;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  memory_budget *b = ud;
  const long long old = ptr ? (long long)osize : 0; /* without ptr, osize is a type tag */
  const long long grow = (long long)nsize - old;
  if (b->on && grow > 0 && b->balance + grow > b->limit) return NULL;
  void *p = b->base(b->base_ud, ptr, osize, nsize);
  if (p != NULL || nsize == 0) b->balance += grow;
  return p;
}

/* native.memory_budget(bytes) sets a budget of that many more bytes from
 * now; native.memory_budget(nil) lifts it and gives the state its own
 * allocator back (the module may be unloaded before the state's last free). */
static int l_memory_budget(lua_State *L) {
  void *ud;
  const int installed = lua_getallocf(L, &ud) == budget_alloc;
  if (lua_isnoneornil(L, 1)) {
    if (installed) lua_setallocf(L, budget.base, budget.base_ud);
    budget.on = 0;
    return 0;
  }
  if (!installed) {
    budget.base = lua_getallocf(L, &budget.base_ud);
    budget.balance = 0;
    lua_setallocf(L, budget_alloc, &budget);
  }
  budget.limit = budget.balance + (long long)luaL_checkinteger(L, 1);
  budget.on = 1;
  return 0;
}

const luaL_Reg host_functions[] = {
    { "memory_budget", l_memory_budget },
    { "isatty", l_isatty },
    { "monotonic", l_monotonic },
    { "matmul_kernels", l_matmul_kernels },
    { NULL, NULL },
};
