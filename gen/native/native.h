/*
 * What the files of kiln_native share: the Model and Program classes, the
 * readers of table fields the bindings have in common, and each file's list
 * of functions (or methods) that kiln_native.c registers.
 *
 * Errors about the user's input are returned as (nil, message) so the Lua
 * side can name the file and field; misuse of the API raises a Lua error.
 */
#ifndef KILN_NATIVE_H
#define KILN_NATIVE_H

#include <lauxlib.h>
#include <lua.h>

#include "../../runtime/float/kiln_float.h"
#include "tensor.h"

#define PROGRAM "kiln.Program"
#define MODEL "kiln.Model"

/* A kiln.Model: the float model, the fake-quant settings it was handed and
 * the exact reference's weight scales (m:exact_weights), all freed by its __gc. */
typedef struct {
  kiln_float_model m;
  kiln_fq *fq, *head_fq;
  float **param_scales;
  int *param_rows;
  int ready;
} model_ud;

/* A trace: the table { [observer index + 1] = the result of its node } over
 * the observer nodes of pg, each pushed by push_slot(L, slot, state)
 * (run_layer's float graph, run_layer_exact's double one). */
void push_observer_results(lua_State *L, const kiln_program *pg, void (*push_slot)(lua_State *, int, const void *),
                           const void *state);

/* Integer field k of table t, or dflt when it is absent. */
static inline int int_field(lua_State *L, int t, const char *k, int dflt) {
  int v = dflt;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Number field k of table t, which must be there. */
static inline float number_field(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const float v = (float)luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}

/* codes.c: native.c_array, native.row_sums; t:quantize on kiln.Tensor */
extern const luaL_Reg codes_functions[];
extern const luaL_Reg codes_tensor_methods[];
/* pack.c: native.pack_blocks, native.pack_nibbles */
extern const luaL_Reg pack_functions[];
/* normal.c: native.write_normal */
extern const luaL_Reg normal_functions[];
/* program.c: native.program and the Program class's __gc */
extern const luaL_Reg program_functions[];
int program_gc(lua_State *L);
/* model.c: native.model, native.rope_tables, the Model class's __gc and m:use_openblas */
extern const luaL_Reg model_functions[];
extern const luaL_Reg model_methods[];
int model_gc(lua_State *L);
/* model_run.c: m:forward, m:score, m:cache, m:run_layer, m:run_head */
extern const luaL_Reg model_run_methods[];
/* model_fake_quant.c: m:fake_quant */
extern const luaL_Reg model_fake_quant_methods[];
/* model_exact.c: m:exact_weights, m:run_layer_exact */
extern const luaL_Reg model_exact_methods[];
/* model_observe.c: m:observe, m:ranges */
extern const luaL_Reg model_observe_methods[];
/* measure.c: native.dequantize, code_diff, diff_stats, logit_metrics */
extern const luaL_Reg measure_functions[];
/* sampling.c: native.argmax, native.sample */
extern const luaL_Reg sampling_functions[];
/* host.c: native.isatty, native.monotonic, native.matmul_kernels, native.memory_budget */
extern const luaL_Reg host_functions[];

/* gguf_q8_0.c: adds native.dequantize_q8_0 to the module table on top of the stack */
void q8_0_register(lua_State *L);
/* bpe.c: the BPE model of tokenizer.json, native.bpe */
void bpe_register(lua_State *L);
/* gptq.c: the Hessian class, native.hessian and native.gptq */
void gptq_register(lua_State *L);

#endif
