/*
 * Quantized codes (kiln_native): TICO's quantization of a tensor into packed
 * integer codes (t:quantize), their row sums, and their text as a C array.
 */
#include <stdio.h>
#include <string.h>

#include "native.h"

/* Storage types of quantized codes: "u8", "s8", "s16" (little-endian). */
typedef enum { CODE_U8, CODE_S8, CODE_S16, CODE_UNKNOWN } code_kind;

static code_kind code_kind_of(const char *ctype) {
  if (strcmp(ctype, "u8") == 0) return CODE_U8;
  if (strcmp(ctype, "s8") == 0) return CODE_S8;
  if (strcmp(ctype, "s16") == 0) return CODE_S16;
  return CODE_UNKNOWN;
}

/* Bytes of one code, 0 for an unknown storage type. */
static int ctype_bytes(const char *ctype) {
  const code_kind k = code_kind_of(ctype);
  return k == CODE_UNKNOWN ? 0 : k == CODE_S16 ? 2 : 1;
}

/* Code i of packed storage p. */
static inline int code_at(const unsigned char *p, size_t i, code_kind k) {
  if (k == CODE_U8) return p[i];
  if (k == CODE_S8) return (signed char)p[i];
  return (int16_t)(uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
}

/* One row of TICO's quantization, q = clamp(zp + rint(x * inv)), as 1- or
 * 2-byte little-endian codes. rintf by the 1.5 * 2^23 trick: exact for
 * |v| <= 2^22, and beyond that the clamp decides anyway. Branch-free
 * (selects only), so that the compiler vectorizes it (-fno-trapping-math). */
static inline int32_t quantize_one(float x, float inv, int32_t zp, int32_t qmin, int32_t qmax) {
  float v = x * inv;
  v = v < 4194304.0f ? v : 4194304.0f;
  v = v > -4194304.0f ? v : -4194304.0f;
  int32_t q = zp + (int32_t)((v + 12582912.0f) - 12582912.0f);
  q = q < qmin ? qmin : q;
  return q > qmax ? qmax : q;
}

static void quantize_chunk(unsigned char *out, const float *x, size_t cols, float inv, int zp, int qmin, int qmax,
                           int bytes) {
  if (bytes == 1) {
    for (size_t c = 0; c < cols; c++) out[c] = (unsigned char)(quantize_one(x[c], inv, zp, qmin, qmax) & 0xFF);
  } else {
    for (size_t c = 0; c < cols; c++) {
      const int32_t q = quantize_one(x[c], inv, zp, qmin, qmax);
      out[2 * c] = (unsigned char)(q & 0xFF);
      out[2 * c + 1] = (unsigned char)((q >> 8) & 0xFF);
    }
  }
}

/* Elements [first, first + cols) of t, whatever its dtype, as codes. */
static void quantize_row(unsigned char *out, const tensor *t, size_t first, size_t cols, float inv, int zp, int qmin,
                         int qmax, int bytes) {
  if (t->dtype == KILN_FP32) {
    quantize_chunk(out, (const float *)t->data + first, cols, inv, zp, qmin, qmax, bytes);
    return;
  }
  float values[1024];
  for (size_t c = 0; c < cols; c += 1024) {
    const size_t n = cols - c < 1024 ? cols - c : 1024;
    kiln_stored_to_f32(values, t->data, t->dtype, first + c, n);
    quantize_chunk(out + c * (size_t)bytes, values, n, inv, zp, qmin, qmax, bytes);
  }
}

/* t:quantize(scale, zero_point, qmin, qmax, ctype) -> string of packed
 * integer codes (little-endian), TICO's quantization (reciprocal, round half
 * to even, clamp); scale and zero_point may be arrays, one per row. */
static int tensor_quantize(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  int qmin = (int)luaL_checkinteger(L, 4), qmax = (int)luaL_checkinteger(L, 5);
  const char *ctype = luaL_checkstring(L, 6);
  int bytes = ctype_bytes(ctype);
  luaL_argcheck(L, bytes > 0, 6, "ctype must be u8, s8 or s16");
  size_t rows = 1;
  if (lua_istable(L, 2)) {
    rows = (size_t)lua_rawlen(L, 2);
    luaL_argcheck(L, rows > 0 && t->n % rows == 0 && lua_rawlen(L, 3) == rows, 2, "one scale and zero point per row");
  }
  size_t cols = t->n / rows;
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, t->n * (size_t)bytes);
  for (size_t r = 0; r < rows; r++) {
    float scale;
    int zp;
    if (lua_istable(L, 2)) {
      lua_rawgeti(L, 2, (lua_Integer)r + 1);
      lua_rawgeti(L, 3, (lua_Integer)r + 1);
      scale = (float)luaL_checknumber(L, -2);
      zp = (int)luaL_checkinteger(L, -1);
      lua_pop(L, 2);
    } else {
      scale = (float)luaL_checknumber(L, 2);
      zp = (int)luaL_checkinteger(L, 3);
    }
    quantize_row(out + r * cols * (size_t)bytes, t, r * cols, cols, 1.0f / scale, zp, qmin, qmax, bytes);
  }
  luaL_pushresultsize(&b, t->n * (size_t)bytes);
  return 1;
}

/* native.c_array(packed, ctype, per_line, indent) -> the values as C text,
 * comma-separated, per_line values a line. */
static int c_array(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *ctype = luaL_checkstring(L, 2);
  lua_Integer per_line = luaL_checkinteger(L, 3);
  const char *indent = luaL_optstring(L, 4, "  ");
  int bytes = ctype_bytes(ctype);
  luaL_argcheck(L, bytes > 0 && len % (size_t)bytes == 0, 2, "bad ctype or length");
  luaL_argcheck(L, per_line > 0, 3, "per_line must be positive");
  size_t n = len / (size_t)bytes;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const code_kind kind = code_kind_of(ctype);
  char item[32];
  for (size_t i = 0; i < n; i++) {
    if (i % (size_t)per_line == 0) luaL_addstring(&b, indent);
    snprintf(item, sizeof item, "%d,", code_at(p, i, kind));
    luaL_addstring(&b, item);
    luaL_addchar(&b, (i + 1) % (size_t)per_line == 0 || i + 1 == n ? '\n' : ' ');
  }
  luaL_pushresult(&b);
  return 1;
}

/* native.row_sums(packed, ctype, rows) -> { sum of each row's integer codes } */
static int row_sums(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *ctype = luaL_checkstring(L, 2);
  lua_Integer rows = luaL_checkinteger(L, 3);
  int bytes = ctype_bytes(ctype);
  luaL_argcheck(L, bytes > 0 && rows > 0 && len % ((size_t)rows * bytes) == 0, 3, "bad ctype or rows");
  size_t cols = len / ((size_t)rows * bytes);
  luaL_argcheck(L, cols < ((size_t)1 << 24), 3, "rows too long");
  const code_kind kind = code_kind_of(ctype);
  lua_createtable(L, (int)rows, 0);
  for (lua_Integer r = 0; r < rows; r++) {
    lua_Integer sum = 0;
    const unsigned char *row = p + (size_t)r * cols * (size_t)bytes;
    if (kind == CODE_U8) { /* 32-bit partial sums vectorize; cols < 2^24 keeps them exact */
      uint32_t part = 0;
      for (size_t c = 0; c < cols; c++) part += row[c];
      sum = part;
    } else {
      for (size_t c = 0; c < cols; c++) sum += code_at(row, c, kind);
    }
    lua_pushinteger(L, sum);
    lua_rawseti(L, -2, r + 1);
  }
  return 1;
}

const luaL_Reg codes_functions[] = {
    { "c_array", c_array },
    { "row_sums", row_sums },
    { NULL, NULL },
};

const luaL_Reg codes_tensor_methods[] = {
    { "quantize", tensor_quantize },
    { NULL, NULL },
};
