/*
 * GGUF's Q8_0 tensors (ggml's block_q8_0): blocks of 32 int8 codes with one
 * fp16 scale d, value = code * d. Dequantized once, when read, to float32:
 * the product of an 11-bit and an 8-bit significand is exact in float32, so
 * the values are the ones llama.cpp computes.
 */
#include "tensor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QK8_0 32
#define BLOCK_BYTES (2 + QK8_0)

/* native.dequantize_q8_0(path, byte_offset, count) -> float32 Tensor | nil, message */
static int dequantize_q8_0(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer offset = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
  luaL_argcheck(L, offset >= 0 && count >= 0 && count % QK8_0 == 0 && count < ((lua_Integer)1 << 40), 3,
                "count must be whole blocks of 32");
  struct stat st;
  const int fd = tensor_open_file(L, path, &st);
  if (fd < 0) return 2;
  const size_t blocks = (size_t)count / QK8_0;
  if ((lua_Integer)st.st_size < offset || (size_t)(st.st_size - offset) / BLOCK_BYTES < blocks) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "file ends inside the %I Q8_0 values at byte offset %I", count, offset);
    return 2;
  }
  tensor *t = tensor_new(L, (size_t)count);
  float *out = t->data;
  unsigned char chunk[BLOCK_BYTES * 1024];
  for (size_t b = 0; b < blocks;) {
    const size_t n = blocks - b < 1024 ? blocks - b : 1024;
    const ssize_t got = pread(fd, chunk, n * BLOCK_BYTES, (off_t)((size_t)offset + b * BLOCK_BYTES));
    if (got != (ssize_t)(n * BLOCK_BYTES)) {
      close(fd);
      lua_pushnil(L);
      lua_pushstring(L, got < 0 ? strerror(errno) : "short read");
      return 2;
    }
    for (size_t i = 0; i < n; i++) {
      const unsigned char *blk = chunk + i * BLOCK_BYTES;
      uint16_t dh;
      memcpy(&dh, blk, sizeof dh);
      const float d = kiln_f16_to_f32(dh);
      for (int j = 0; j < QK8_0; j++) out[(b + i) * QK8_0 + (size_t)j] = (float)(int8_t)blk[2 + j] * d;
    }
    b += n;
  }
  close(fd);
  return 1;
}

void q8_0_register(lua_State *L) {
  lua_pushcfunction(L, dequantize_q8_0);
  lua_setfield(L, -2, "dequantize_q8_0");
}
