/*
 * kiln.Tensor (tensor.h): construction, file mappings, and the methods the
 * generator calls on weights and activations. Methods that read values read
 * any dtype, converted exactly to float32; methods that make a tensor keep
 * the input's dtype where the result is a weight (scaled, rows permuted) and
 * make float32 where it is computed (fake quantization).
 */
#include "tensor.h"

#include "../../runtime/float/kiln_float.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const DTYPE_NAMES[] = { "fp32", "fp16", "bf16", NULL };

tensor *tensor_new_of(lua_State *L, size_t n, enum kiln_dtype t) {
  tensor *x = lua_newuserdatauv(L, sizeof *x, 0);
  x->n = 0;
  x->data = NULL;
  x->dtype = t;
  x->map = NULL;
  x->map_len = 0;
  luaL_setmetatable(L, KILN_TENSOR);
  x->data = malloc((n ? n : 1) * kiln_dtype_bytes(t));
  if (!x->data) luaL_error(L, "out of memory for a tensor of %zu values", n);
  x->n = n;
  return x;
}

tensor *tensor_new(lua_State *L, size_t n) { return tensor_new_of(L, n, KILN_FP32); }

tensor *tensor_check(lua_State *L, int i) { return luaL_checkudata(L, i, KILN_TENSOR); }

int tensor_open_file(lua_State *L, const char *path, struct stat *st) {
  const int fd = open(path, O_RDONLY);
  if (fd >= 0 && fstat(fd, st) == 0) return fd;
  lua_pushnil(L);
  lua_pushstring(L, strerror(errno));
  if (fd >= 0) close(fd);
  return -1;
}

float *tensor_f32(lua_State *L, int i) {
  tensor *t = tensor_check(L, i);
  if (t->dtype != KILN_FP32) luaL_argerror(L, i, "a float32 tensor was expected");
  return t->data;
}

static int tensor_gc(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  if (t->map)
    munmap(t->map, t->map_len);
  else
    free(t->data);
  t->map = NULL;
  t->data = NULL;
  t->n = 0;
  return 0;
}

static int tensor_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)tensor_check(L, 1)->n);
  return 1;
}

/* t:dtype() -> "fp32", "fp16" or "bf16" */
static int tensor_dtype(lua_State *L) {
  lua_pushstring(L, DTYPE_NAMES[tensor_check(L, 1)->dtype]);
  return 1;
}

/* t:get(i), 1-based like Lua arrays */
static int tensor_get(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  luaL_argcheck(L, i >= 1 && (size_t)i <= t->n, 2, "index out of range");
  lua_pushnumber(L, kiln_stored(t->data, t->dtype, (size_t)i - 1));
  return 1;
}

static int tensor_to_table(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_createtable(L, (int)t->n, 0);
  for (size_t i = 0; i < t->n; i++) {
    lua_pushnumber(L, kiln_stored(t->data, t->dtype, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* native.tensor{1.5, 2, ...} -> Tensor (values rounded to float32) */
static int from_table(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t n = (size_t)lua_rawlen(L, 1);
  tensor *t = tensor_new(L, n);
  float *x = t->data;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    x[i] = (float)luaL_checknumber(L, -1);
    lua_pop(L, 1);
  }
  return 1;
}

static void range_of(const tensor *t, size_t first, size_t n, float *lo, float *hi) {
  float a = INFINITY, b = -INFINITY;
  for (size_t i = first; i < first + n; i++) {
    const float v = kiln_stored(t->data, t->dtype, i);
    if (v < a) a = v;
    if (v > b) b = v;
  }
  *lo = a;
  *hi = b;
}

/* min, max over the whole tensor */
static int tensor_minmax(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  float lo, hi;
  range_of(t, 0, t->n, &lo, &hi);
  lua_pushnumber(L, lo);
  lua_pushnumber(L, hi);
  return 2;
}

/* t:row_minmax(rows) -> {min per row}, {max per row}: per-channel, axis 0 */
static int tensor_row_minmax(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_Integer rows = luaL_checkinteger(L, 2);
  luaL_argcheck(L, rows > 0 && t->n % (size_t)rows == 0, 2, "rows must divide the tensor");
  size_t cols = t->n / (size_t)rows;
  lua_createtable(L, (int)rows, 0);
  lua_createtable(L, (int)rows, 0);
  for (lua_Integer r = 0; r < rows; r++) {
    float lo, hi;
    range_of(t, (size_t)r * cols, cols, &lo, &hi);
    lua_pushnumber(L, lo);
    lua_rawseti(L, -3, r + 1);
    lua_pushnumber(L, hi);
    lua_rawseti(L, -2, r + 1);
  }
  return 2;
}

/* index (1-based) of the first NaN or infinity, or nil */
static int tensor_first_nonfinite(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  for (size_t i = 0; i < t->n; i++) {
    if (kiln_stored_nonfinite(t->data, t->dtype, i)) {
      lua_pushinteger(L, (lua_Integer)i + 1);
      return 1;
    }
  }
  lua_pushnil(L);
  return 1;
}

/* t:slice(first, count) -> new tensor of elements [first, first + count), 0-based, same dtype */
static int tensor_slice(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_Integer first = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
  luaL_argcheck(L, first >= 0 && count >= 0 && (size_t)(first + count) <= t->n, 2, "slice out of range");
  tensor *r = tensor_new_of(L, (size_t)count, t->dtype);
  const size_t bytes = kiln_dtype_bytes(t->dtype);
  memcpy(r->data, (const char *)t->data + (size_t)first * bytes, (size_t)count * bytes);
  return 1;
}

/* t:scaled(s) -> new tensor of t's dtype: each value times (float)s in
 * float32, rounded to the dtype (torch's mul of a tensor by a number) */
static int tensor_scaled(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  float s = (float)luaL_checknumber(L, 2);
  tensor *r = tensor_new_of(L, t->n, t->dtype);
  for (size_t i = 0; i < t->n; i++) kiln_store(r->data, r->dtype, i, kiln_stored(t->data, t->dtype, i) * s);
  return 1;
}

/* Reads a Lua array of n numbers at index i into a malloc'd double array. */
static double *check_factors(lua_State *L, int i, size_t n) {
  luaL_checktype(L, i, LUA_TTABLE);
  luaL_argcheck(L, lua_rawlen(L, i) == n && n > 0, i, "one factor per column");
  double *f = malloc(n * sizeof *f);
  if (!f) luaL_error(L, "out of memory");
  for (size_t j = 0; j < n; j++) {
    lua_rawgeti(L, i, (lua_Integer)j + 1);
    f[j] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  return f;
}

/* t:column_scaled(factors, divide [, by_rows]) -> new float32 tensor: t as
 * [rows][#factors] with column j multiplied (or divided, when divide) by
 * factors[j] in float32; by_rows: t as [#factors][cols], row i scaled
 * (SmoothQuant's folding: Linear columns times s, the norm weight over s) */
static int tensor_column_scaled(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  size_t count = (size_t)lua_rawlen(L, 2);
  luaL_argcheck(L, count > 0 && t->n % count == 0, 2, "the tensor is not [rows][#factors]");
  double *f = check_factors(L, 2, count);
  int divide = lua_toboolean(L, 3), by_rows = lua_toboolean(L, 4);
  const size_t cols = t->n / count;
  tensor *r = tensor_new(L, t->n);
  float *y = r->data;
  for (size_t i = 0; i < t->n; i++) {
    float x = kiln_stored(t->data, t->dtype, i), s = (float)f[by_rows ? i / cols : i % count];
    y[i] = divide ? x / s : x * s;
  }
  free(f);
  return 1;
}

/* t:column_absmax(cols [, into]) -> into (or a new table), entry j the
 * largest |t[i][j]| over the rows of t as [rows][cols] and into[j] itself */
static int tensor_column_absmax(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_Integer cols = luaL_checkinteger(L, 2);
  luaL_argcheck(L, cols > 0 && t->n % (size_t)cols == 0, 2, "the tensor is not [rows][cols]");
  double *m = calloc((size_t)cols, sizeof *m);
  if (!m) return luaL_error(L, "out of memory");
  if (lua_istable(L, 3)) {
    for (lua_Integer j = 0; j < cols; j++) {
      lua_rawgeti(L, 3, j + 1);
      m[j] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    lua_pushvalue(L, 3);
  } else {
    lua_createtable(L, (int)cols, 0);
  }
  for (size_t i = 0; i < t->n; i++) {
    double v = fabs((double)kiln_stored(t->data, t->dtype, i));
    if (v > m[i % (size_t)cols]) m[i % (size_t)cols] = v;
  }
  for (lua_Integer j = 0; j < cols; j++) {
    lua_pushnumber(L, m[j]);
    lua_rawseti(L, -2, j + 1);
  }
  free(m);
  return 1;
}

/* t:converted(dtype) -> new tensor of the values in dtype ("fp32", "fp16",
 * "bf16"), rounded to nearest even (the --dtype override) */
static int tensor_converted(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  enum kiln_dtype to = (enum kiln_dtype)luaL_checkoption(L, 2, NULL, DTYPE_NAMES);
  tensor *r = tensor_new_of(L, t->n, to);
  for (size_t i = 0; i < t->n; i++) kiln_store(r->data, to, i, kiln_stored(t->data, t->dtype, i));
  return 1;
}

/* llama2.c (and Meta/GGUF) order each head's q/k rows for RoPE on adjacent
 * pairs (2i, 2i+1); kiln follows TICO/HF, pairs (i, i + d/2): row 2i of a head
 * is row i, row 2i+1 is row i + d/2 (HF's `permute`). Makes a new tensor of
 * the same dtype with the rows moved one way or the other. */
static int rope_rows(lua_State *L, int to_halves) {
  tensor *t = tensor_check(L, 1);
  lua_Integer heads = luaL_checkinteger(L, 2), hd = luaL_checkinteger(L, 3);
  luaL_argcheck(L, heads > 0 && hd > 0 && hd % 2 == 0, 2, "bad head geometry");
  size_t rows = (size_t)(heads * hd);
  luaL_argcheck(L, t->n % rows == 0, 2, "tensor is not heads*head_dim rows");
  const size_t row_bytes = t->n / rows * kiln_dtype_bytes(t->dtype);
  tensor *r = tensor_new_of(L, t->n, t->dtype);
  for (lua_Integer h = 0; h < heads; h++)
    for (lua_Integer i = 0; i < hd / 2; i++)
      for (int part = 0; part < 2; part++) {
        const size_t pair = (size_t)(h * hd + 2 * i + part), half = (size_t)(h * hd + part * (hd / 2) + i);
        const size_t from = to_halves ? pair : half, to = to_halves ? half : pair;
        memcpy((char *)r->data + to * row_bytes, (const char *)t->data + from * row_bytes, row_bytes);
      }
  return 1;
}

/* t:rope_rows_to_halves(heads, head_dim): adjacent-pair rows to kiln's order */
static int tensor_rope_rows_to_halves(lua_State *L) { return rope_rows(L, 1); }

/* t:rope_rows_to_pairs(heads, head_dim): kiln's rows to adjacent pairs (GGUF's) */
static int tensor_rope_rows_to_pairs(lua_State *L) { return rope_rows(L, 0); }

/* t:bytes() -> the stored values as a string (little-endian, as in memory) */
static int tensor_bytes(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_pushlstring(L, t->data, t->n * kiln_dtype_bytes(t->dtype));
  return 1;
}

/* t:fake_quant(scale, zero_point, qmin, qmax) -> new float32 tensor, TICO's
 * fake quantization per tensor; with arrays of scales and zero points, per
 * row (per-channel, axis 0). */
static int tensor_fake_quant(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  int qmin = (int)luaL_checkinteger(L, 4), qmax = (int)luaL_checkinteger(L, 5);
  tensor *r = tensor_new(L, t->n);
  float *y = r->data;
  kiln_stored_to_f32(y, t->data, t->dtype, 0, t->n);
  if (lua_istable(L, 2)) {
    size_t rows = (size_t)lua_rawlen(L, 2);
    luaL_argcheck(L, rows > 0 && t->n % rows == 0 && lua_rawlen(L, 3) == rows, 2, "one scale and zero point per row");
    size_t cols = t->n / rows;
    for (size_t i = 0; i < rows; i++) {
      kiln_fq q = { 1, 0.0f, 0, qmin, qmax };
      lua_rawgeti(L, 2, (lua_Integer)i + 1);
      q.scale = (float)luaL_checknumber(L, -1);
      lua_rawgeti(L, 3, (lua_Integer)i + 1);
      q.zero_point = (int)luaL_checkinteger(L, -1);
      lua_pop(L, 2);
      kiln_fake_quant(y + i * cols, y + i * cols, cols, &q);
    }
  } else {
    kiln_fq q = { 1, (float)luaL_checknumber(L, 2), (int)luaL_checkinteger(L, 3), qmin, qmax };
    kiln_fake_quant(y, y, t->n, &q);
  }
  return 1;
}

/* native.map_tensor(path, byte_offset, count, dtype) -> Tensor | nil, message.
 * The tensor maps the file (private, copy on write): a 4 GB checkpoint costs
 * no copy and no fresh pages, just the page cache it already sits in. */
static int map_tensor(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer offset = luaL_checkinteger(L, 2);
  lua_Integer count = luaL_checkinteger(L, 3);
  enum kiln_dtype dtype = (enum kiln_dtype)luaL_checkoption(L, 4, "fp32", DTYPE_NAMES);
  luaL_argcheck(L, offset >= 0 && count >= 0 && count < ((lua_Integer)1 << 40), 2, "bad offset or count");
  struct stat st;
  const int fd = tensor_open_file(L, path, &st);
  if (fd < 0) return 2;
  const size_t item = kiln_dtype_bytes(dtype), bytes = (size_t)count * item;
  if ((lua_Integer)st.st_size < offset || (size_t)(st.st_size - offset) < bytes) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "file ends after %I of %I values at byte offset %I",
                    (lua_Integer)(st.st_size > offset ? (st.st_size - offset) / (lua_Integer)item : 0), count,
                    offset);
    return 2;
  }
  tensor *t = tensor_new_of(L, 0, dtype);
  if (count > 0) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), start = (size_t)offset / page * page;
    const size_t len = (size_t)offset - start + bytes;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)start);
    if (map == MAP_FAILED) {
      close(fd);
      lua_pushnil(L);
      lua_pushstring(L, strerror(errno));
      return 2;
    }
    free(t->data);
    t->map = map;
    t->map_len = len;
    t->data = (char *)map + ((size_t)offset - start);
    t->n = (size_t)count;
  }
  close(fd);
  return 1;
}

void tensor_register(lua_State *L, const luaL_Reg *more_methods) {
  static const luaL_Reg methods[] = {
      { "len", tensor_len },
      { "dtype", tensor_dtype },
      { "get", tensor_get },
      { "to_table", tensor_to_table },
      { "minmax", tensor_minmax },
      { "row_minmax", tensor_row_minmax },
      { "first_nonfinite", tensor_first_nonfinite },
      { "scaled", tensor_scaled },
      { "column_scaled", tensor_column_scaled },
      { "column_absmax", tensor_column_absmax },
      { "converted", tensor_converted },
      { "slice", tensor_slice },
      { "rope_rows_to_halves", tensor_rope_rows_to_halves },
      { "rope_rows_to_pairs", tensor_rope_rows_to_pairs },
      { "bytes", tensor_bytes },
      { "fake_quant", tensor_fake_quant },
      { NULL, NULL },
  };
  luaL_newmetatable(L, KILN_TENSOR);
  lua_pushcfunction(L, tensor_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, tensor_len);
  lua_setfield(L, -2, "__len");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  luaL_setfuncs(L, more_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, from_table);
  lua_setfield(L, -2, "tensor");
  lua_pushcfunction(L, map_tensor);
  lua_setfield(L, -2, "map_tensor");
}
