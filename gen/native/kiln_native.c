/*
 * kiln_native: the C half of the generator, as a Lua 5.4 module; this file
 * registers it (luaopen_kiln_native).
 *
 * Lua owns orchestration; everything that touches tensors element by element
 * is in C: reading weights from files, per-channel ranges, the float model
 * (runtime/float) and its observers, scoring and sampling. Each concern has
 * its file and hands its functions here (native.h).
 */
#include <cblas.h> /* OpenBLAS's: openblas_set_num_threads */

#include "native.h"
#include "regex.h"
#include "unicode.h"

/* A class's metatable, its methods the union of the lists (NULL-terminated). */
static void new_class(lua_State *L, const char *name, const luaL_Reg *const *method_lists, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  if (method_lists) {
    lua_newtable(L);
    for (; *method_lists; method_lists++) luaL_setfuncs(L, *method_lists, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

int luaopen_kiln_native(lua_State *L) {
  /* OpenBLAS is the benchmark's float baseline (m:use_openblas) and GPTQ's
   * linear algebra (gptq.c); single-threaded like everything it is compared
   * with, and so that GPTQ's sums have one order; one thread also keeps
   * helper threads from spinning beside the generator. */
  openblas_set_num_threads(1);
  static const luaL_Reg *const model_method_lists[] = {
      model_methods, model_run_methods, model_fake_quant_methods, model_exact_methods, model_observe_methods, NULL,
  };
  static const luaL_Reg *const function_lists[] = {
      codes_functions, pack_functions, normal_functions, program_functions, model_functions,
      measure_functions, sampling_functions, host_functions, NULL,
  };
  new_class(L, PROGRAM, NULL, program_gc);
  new_class(L, MODEL, model_method_lists, model_gc);
  lua_newtable(L);
  for (const luaL_Reg *const *list = function_lists; *list; list++) luaL_setfuncs(L, *list, 0);
  tensor_register(L, codes_tensor_methods);
  q8_0_register(L);
  regex_register(L);
  unicode_register(L);
  bpe_register(L);
  gptq_register(L);
  return 1;
}
