/*
 * kiln.Tensor: a flat array of numbers the generator hands between Lua and
 * C. Weights keep their checkpoint's dtype (fp32, fp16 or bf16; dtype.h) and
 * usually map the file rather than copy it; everything computed here is
 * float32.
 */
#ifndef KILN_TENSOR_H
#define KILN_TENSOR_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

#include "../../runtime/float/dtype.h"

#define KILN_TENSOR "kiln.Tensor"

typedef struct {
  size_t n;
  void *data;
  enum kiln_dtype dtype;
  void *map; /* a file mapping data points into (native.map_tensor), else NULL: data is malloc'd */
  size_t map_len;
} tensor;

/* A new float32 tensor of n elements on the Lua stack. */
tensor *tensor_new(lua_State *L, size_t n);
/* A new tensor of n elements of dtype t on the Lua stack. */
tensor *tensor_new_of(lua_State *L, size_t n, enum kiln_dtype t);
tensor *tensor_check(lua_State *L, int i);
/* Opens path read-only and stats it: the descriptor, or -1 with nil and the
 * system's message pushed (a mapper's "nil, error" result). */
struct stat;
int tensor_open_file(lua_State *L, const char *path, struct stat *st);
/* The values of a float32 tensor at index i (an error for other dtypes). */
float *tensor_f32(lua_State *L, int i);

/* Registers the Tensor metatable, with more_methods beside its own (methods
 * that belong to other concerns: quantization), and adds native.tensor and
 * native.map_tensor to the module table on top of the stack. */
void tensor_register(lua_State *L, const luaL_Reg *more_methods);

#endif
