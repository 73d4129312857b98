/*
 * Weight packing (kiln_native): the weight codes in the blocked layout of a
 * target's kernels, and 4-bit codes two a byte.
 */
#include <string.h>

#include "native.h"

/* native.pack_blocks(codes_u8, rows, cols, block_rows, group, flip_sign) ->
 * the weight codes in a blocked layout a target's rules declare (its
 * weight_layout): blocks of block_rows output rows and group inputs,
 * out[o / block_rows][i / group][o % block_rows][i % group] = w[o][i], rows
 * padded to a multiple of block_rows with zeros; with flip_sign, u - 128
 * as int8 (u ^ 0x80). */
static int pack_blocks(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  lua_Integer rows = luaL_checkinteger(L, 2), cols = luaL_checkinteger(L, 3);
  lua_Integer block_rows = luaL_checkinteger(L, 4), group = luaL_checkinteger(L, 5);
  const unsigned char flip = lua_toboolean(L, 6) ? 0x80 : 0;
  luaL_argcheck(L, block_rows > 0 && block_rows <= 256 && group > 0 && group <= 256, 4, "block sizes in [1, 256]");
  luaL_argcheck(L, rows > 0 && cols > 0 && cols % group == 0 && len == (size_t)(rows * cols), 2,
                "u8 codes [rows][cols], cols a multiple of the group");
  const size_t br = (size_t)block_rows, g = (size_t)group;
  const size_t blocks = ((size_t)rows + br - 1) / br, groups = (size_t)cols / g, n = blocks * br * (size_t)cols;
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n);
  memset(out, 0, n);
  for (size_t rb = 0; rb < blocks; rb++) {
    const size_t r_end = (rb + 1) * br < (size_t)rows ? br : (size_t)rows - rb * br;
    for (size_t c = 0; c < groups; c++) {
      unsigned char *dst = out + (rb * groups + c) * br * g;
      for (size_t r = 0; r < r_end; r++) {
        const unsigned char *src = p + (rb * br + r) * (size_t)cols + c * g;
        for (size_t k = 0; k < g; k++) dst[r * g + k] = src[k] ^ flip;
      }
    }
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

/* native.pack_nibbles(codes, ctype, unit, pairing, flip) -> 4-bit codes
 * (one a byte, ctype "u8" for uint4 in [0, 15] or "s8" for int4 in
 * [-8, 7]) two a byte: the string is cut into units of `unit` codes, each
 * packed into (unit + 1) / 2 bytes. pairing "adjacent": byte j holds codes
 * 2j (low nibble) and 2j + 1 (high nibble; 0 past an odd unit); "halves"
 * (unit even): codes j and j + unit / 2. A nibble is the code's low four bits
 * (int4 in two's complement) xor flip (8: code + 8, offset binary). */
static int pack_nibbles(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  const char *ctype = luaL_checkstring(L, 2);
  const lua_Integer unit = luaL_checkinteger(L, 3);
  const char *pairing = luaL_checkstring(L, 4);
  const lua_Integer flip = luaL_checkinteger(L, 5);
  const int is_signed = strcmp(ctype, "s8") == 0, halves = strcmp(pairing, "halves") == 0;
  luaL_argcheck(L, is_signed || strcmp(ctype, "u8") == 0, 2, "ctype must be u8 or s8");
  luaL_argcheck(L, halves || strcmp(pairing, "adjacent") == 0, 4, "pairing must be adjacent or halves");
  luaL_argcheck(L, unit > 0 && len % (size_t)unit == 0 && (!halves || unit % 2 == 0), 3,
                "codes in whole units (an even unit for halves)");
  luaL_argcheck(L, flip == 0 || flip == 8, 5, "flip must be 0 or 8");
  const size_t u = (size_t)unit, half = halves ? u / 2 : 0, out_unit = (u + 1) / 2, n = len / u * out_unit;
  for (size_t i = 0; i < len; i++) {
    const int v = is_signed ? (signed char)p[i] : p[i];
    luaL_argcheck(L, is_signed ? v >= -8 && v <= 7 : v <= 15, 1, "a code outside the 4-bit range");
  }
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, n);
  for (size_t s = 0; s < len / u; s++) {
    const unsigned char *src = p + s * u;
    for (size_t j = 0; j < out_unit; j++) {
      const size_t lo = halves ? j : 2 * j, hi = halves ? j + half : 2 * j + 1;
      const unsigned lo_nib = (src[lo] & 0x0Fu) ^ (unsigned)flip;
      const unsigned hi_nib = hi < u ? (src[hi] & 0x0Fu) ^ (unsigned)flip : 0;
      out[s * out_unit + j] = (unsigned char)(lo_nib | hi_nib << 4);
    }
  }
  luaL_pushresultsize(&b, n);
  return 1;
}

const luaL_Reg pack_functions[] = {
    { "pack_blocks", pack_blocks },
    { "pack_nibbles", pack_nibbles },
    { NULL, NULL },
};
