/*
 * The synthetic model's weights (kiln_native): normally distributed values
 * written straight to a file, the same bits on every machine.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime/float/kiln_math.h"
#include "native.h"

/* A deterministic normal generator (xorshift64* and Box-Muller with
 * kiln_math's log, sin and cos): the same values on every machine. */
typedef struct {
  uint64_t state;
  int has_spare;
  double spare;
} normal_rng;

static double uniform01(normal_rng *g) {
  g->state ^= g->state >> 12;
  g->state ^= g->state << 25;
  g->state ^= g->state >> 27;
  return (double)((g->state * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(normal_rng *g) {
  if (g->has_spare) {
    g->has_spare = 0;
    return g->spare;
  }
  double u = uniform01(g), v = uniform01(g);
  if (u < 1e-300) u = 1e-300;
  double r = sqrt(-2.0 * kiln_log(u)), s, c;
  kiln_sincos(6.283185307179586 * v, &s, &c);
  g->spare = r * s;
  g->has_spare = 1;
  return r * c;
}

/* native.write_normal(path, count, mean, std, seed, append [, dtype]) -> writes
 * count values N(mean, std) to path (appending when append), as float32 or,
 * with dtype "fp16" / "bf16", rounded to it */
static int write_normal(lua_State *L) {
  static const char *const dtypes[] = { "fp32", "fp16", "bf16", NULL };
  const char *path = luaL_checkstring(L, 1);
  lua_Integer count = luaL_checkinteger(L, 2);
  double mean = luaL_checknumber(L, 3), std = luaL_checknumber(L, 4);
  normal_rng g = { (uint64_t)luaL_checkinteger(L, 5) | 1, 0, 0.0 };
  const enum kiln_dtype dtype = (enum kiln_dtype)luaL_checkoption(L, 7, "fp32", dtypes);
  const size_t item = kiln_dtype_bytes(dtype);
  FILE *f = fopen(path, lua_toboolean(L, 6) ? "ab" : "wb");
  if (!f) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  float chunk[4096];
  for (lua_Integer done = 0; done < count;) {
    lua_Integer n = count - done < 4096 ? count - done : 4096;
    for (lua_Integer i = 0; i < n; i++) kiln_store(chunk, dtype, (size_t)i, (float)(mean + std * normal(&g)));
    if (fwrite(chunk, item, (size_t)n, f) != (size_t)n) {
      fclose(f);
      lua_pushnil(L);
      lua_pushstring(L, "write failed");
      return 2;
    }
    done += n;
  }
  fclose(f);
  lua_pushboolean(L, 1);
  return 1;
}

const luaL_Reg normal_functions[] = {
    { "write_normal", write_normal },
    { NULL, NULL },
};
