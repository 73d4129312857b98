/*
 * Weight packing (kiln_native): the weight codes in the blocked layout of a
 * target's kernels.
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

const luaL_Reg pack_functions[] = {
    { "pack_blocks", pack_blocks },
    { NULL, NULL },
};
