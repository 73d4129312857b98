/*
 * kiln_native: the C half of the generator, as a Lua 5.4 module.
 *
 * Lua owns orchestration; everything that touches tensors element by element
 * is here: reading weights from files, per-channel ranges, the float model
 * (runtime/float) and its observers, scoring and sampling.
 *
 * Errors about the user's input are returned as (nil, message) so the Lua
 * side can name the file and field; misuse of the API raises a Lua error.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../runtime/float/kiln_float.h"
#include "tensor.h"

#include "regex.h"
#include "unicode.h"

/* gguf_q8_0.c: adds native.dequantize_q8_0 to the module table on top of the stack */
void q8_0_register(lua_State *L);
/* bpe.c: the BPE model of tokenizer.json, native.bpe */
void bpe_register(lua_State *L);
#include "../../runtime/float/kiln_math.h"
#include "../../runtime/float/matmul.h"

#include <cblas.h> /* OpenBLAS's: openblas_set_num_threads */

/* ---- quantized codes --------------------------------------------------- */

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

/* ---- the layer program ---------------------------------------------------- */

#define PROGRAM "kiln.Program"

static int program_gc(lua_State *L) {
  kiln_program *p = luaL_checkudata(L, 1, PROGRAM);
  free(p->slots);
  free(p->nodes);
  free(p->param_slots);
  p->slots = NULL;
  p->nodes = NULL;
  p->param_slots = NULL;
  return 0;
}

static int int_field(lua_State *L, int t, const char *k, int dflt) {
  int v = dflt;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* native.program{ slots = {{kind=, dims={{c[,c]},...}}...}, nodes = {{op=,out=,a=,b=,obs=,arg=}...},
 *                 params = {slot...}, ports = {slot...}, n_obs = } with 0-based slots */
static int program_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  kiln_program *p = lua_newuserdatauv(L, sizeof *p, 0);
  memset(p, 0, sizeof *p);
  luaL_setmetatable(L, PROGRAM);

  lua_getfield(L, 1, "slots");
  p->n_slots = (int)lua_rawlen(L, -1);
  p->slots = calloc((size_t)p->n_slots, sizeof *p->slots);
  for (int i = 0; i < p->n_slots; i++) {
    lua_rawgeti(L, -1, i + 1);
    int st = lua_gettop(L);
    p->slots[i].kind = int_field(L, st, "kind", KILN_SLOT_TEMP);
    lua_getfield(L, st, "dims");
    p->slots[i].rank = (int)lua_rawlen(L, -1);
    luaL_argcheck(L, p->slots[i].rank <= KILN_MAX_RANK, 1, "tensor rank too high");
    for (int r = 0; r < KILN_MAX_RANK; r++)
      for (int f = 0; f < KILN_MAX_FACTORS; f++) p->slots[i].factors[r][f] = -1;
    for (int r = 0; r < p->slots[i].rank; r++) {
      lua_rawgeti(L, -1, r + 1);
      int nf = (int)lua_rawlen(L, -1);
      luaL_argcheck(L, nf <= KILN_MAX_FACTORS, 1, "too many factors in a dim");
      for (int f = 0; f < nf; f++) {
        lua_rawgeti(L, -1, f + 1);
        p->slots[i].factors[r][f] = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "nodes");
  p->n_nodes = (int)lua_rawlen(L, -1);
  p->nodes = calloc((size_t)p->n_nodes, sizeof *p->nodes);
  for (int i = 0; i < p->n_nodes; i++) {
    lua_rawgeti(L, -1, i + 1);
    int nt = lua_gettop(L);
    kiln_node *nd = &p->nodes[i];
    nd->op = int_field(L, nt, "op", -1);
    nd->out = int_field(L, nt, "out", -1);
    nd->in[0] = int_field(L, nt, "a", -1);
    nd->in[1] = int_field(L, nt, "b", -1);
    nd->obs = int_field(L, nt, "obs", -1);
    nd->arg = int_field(L, nt, "arg", 0);
    luaL_argcheck(L, nd->op >= 0 && nd->op < KILN_OP_COUNT, 1, "unknown op code");
    luaL_argcheck(L, nd->out >= 0 && nd->out < p->n_slots, 1, "bad output slot");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "params");
  p->n_params = (int)lua_rawlen(L, -1);
  p->param_slots = calloc((size_t)p->n_params + 1, sizeof *p->param_slots);
  for (int i = 0; i < p->n_params; i++) {
    lua_rawgeti(L, -1, i + 1);
    p->param_slots[i] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);

  lua_getfield(L, 1, "ports");
  luaL_argcheck(L, lua_rawlen(L, -1) == KILN_PORT_COUNT, 1, "ports: wrong count");
  for (int i = 0; i < KILN_PORT_COUNT; i++) {
    lua_rawgeti(L, -1, i + 1);
    p->ports[i] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  p->n_obs = int_field(L, 1, "n_obs", 0);
  return 1;
}

/* ---- the float model ------------------------------------------------------ */

#define MODEL "kiln.Model"

typedef struct {
  kiln_float_model m;
  kiln_fq *fq, *head_fq;
  float **param_scales; /* for the exact reference, see m:exact_weights */
  int *param_rows;
  int ready;
} model_ud;

static int model_gc(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (u->ready) kiln_model_free(&u->m);
  free((void *)u->m.params);
  free((void *)u->m.head_params);
  free(u->fq);
  free(u->head_fq);
  if (u->param_scales) {
    for (int i = 0; i < u->m.dims.n_layers * u->m.prog->n_params; i++) free(u->param_scales[i]);
  }
  free(u->param_scales);
  free(u->param_rows);
  u->param_scales = NULL;
  u->param_rows = NULL;
  u->m.params = u->m.head_params = NULL;
  u->fq = u->head_fq = NULL;
  u->ready = 0;
  return 0;
}

static kiln_weights weights_of(const tensor *x) {
  kiln_weights w = { x->data, x->dtype };
  return w;
}

static kiln_weights tensor_field(lua_State *L, int t, const char *k, size_t want) {
  lua_getfield(L, t, k);
  tensor *x = tensor_check(L, -1);
  if (x->n != want) luaL_error(L, "model tensor '%s' has %d values, expected %d", k, (int)x->n, (int)want);
  lua_pop(L, 1);
  return weights_of(x);
}

/* Reads a list of n tensors at the top of the stack into out[]. */
static void tensor_list(lua_State *L, const char *what, kiln_weights *out, int n) {
  luaL_argcheck(L, (int)lua_rawlen(L, -1) == n, 1, what);
  for (int p = 0; p < n; p++) {
    lua_rawgeti(L, -1, p + 1);
    out[p] = weights_of(tensor_check(L, -1));
    lua_pop(L, 1);
  }
}

static float number_field(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  const float v = (float)luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Reads model/rope.lua's { theta, type, factor, low, high, original } at index i. */
static void rope_arg(lua_State *L, int i, kiln_rope *r) {
  luaL_checktype(L, i, LUA_TTABLE);
  r->theta = number_field(L, i, "theta");
  const int type = int_field(L, i, "type", 0);
  luaL_argcheck(L, type >= KILN_ROPE_DEFAULT && type <= KILN_ROPE_LLAMA3, i, "unknown RoPE type");
  r->type = (enum kiln_rope_type)type;
  r->factor = number_field(L, i, "factor");
  r->low_freq_factor = number_field(L, i, "low");
  r->high_freq_factor = number_field(L, i, "high");
  r->original_max_position = number_field(L, i, "original");
}

/* native.model{ D=, H=, Hk=, hd=, I=, vocab=, layers=, max_seq=, rms_eps=, rope=,
 *               program=P, head_program=P, embedding=T,
 *               params = { {T per layer-graph param} per layer }, head_params = {T per head param} }
 * The model keeps references to every tensor it was given. */
static int model_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  model_ud *u = lua_newuserdatauv(L, sizeof *u, 1);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, MODEL);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* keep the spec (and so its tensors) alive */

  kiln_model_dims *d = &u->m.dims;
  d->D = int_field(L, 1, "D", 0);
  d->H = int_field(L, 1, "H", 0);
  d->Hk = int_field(L, 1, "Hk", 0);
  d->hd = int_field(L, 1, "hd", 0);
  d->inter = int_field(L, 1, "I", 0);
  d->vocab = int_field(L, 1, "vocab", 0);
  d->n_layers = int_field(L, 1, "layers", 0);
  d->max_seq = int_field(L, 1, "max_seq", 0);
  lua_getfield(L, 1, "rms_eps");
  d->rms_eps = (float)luaL_checknumber(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 1, "rope");
  rope_arg(L, lua_gettop(L), &d->rope);
  lua_pop(L, 1);
  luaL_argcheck(L, d->D > 0 && d->H > 0 && d->Hk > 0 && d->H % d->Hk == 0 && d->hd > 0 && d->hd % 2 == 0 &&
                       d->inter > 0 && d->vocab > 0 && d->n_layers > 0 && d->max_seq > 0,
                1, "bad model dims");

  lua_getfield(L, 1, "program");
  u->m.prog = luaL_checkudata(L, -1, PROGRAM);
  lua_getfield(L, 1, "head_program");
  u->m.head_prog = luaL_checkudata(L, -1, PROGRAM);
  lua_pop(L, 2);
  u->m.embedding = tensor_field(L, 1, "embedding", (size_t)d->vocab * d->D);

  int np = u->m.prog->n_params;
  kiln_weights *params = calloc((size_t)d->n_layers * np + 1, sizeof *params);
  kiln_weights *head_params = calloc((size_t)u->m.head_prog->n_params + 1, sizeof *head_params);
  u->m.params = params;
  u->m.head_params = head_params;
  if (!params || !head_params) return luaL_error(L, "out of memory");
  lua_getfield(L, 1, "params");
  luaL_argcheck(L, (int)lua_rawlen(L, -1) == d->n_layers, 1, "params: one list per layer");
  for (int l = 0; l < d->n_layers; l++) {
    lua_rawgeti(L, -1, l + 1);
    tensor_list(L, "params: one tensor per layer-graph param", params + (size_t)l * np, np);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "head_params");
  tensor_list(L, "head_params: one tensor per head-graph param", head_params, u->m.head_prog->n_params);
  lua_pop(L, 1);
  if (kiln_model_init(&u->m) != 0) luaL_error(L, "out of memory for the float model");
  u->ready = 1;
  return 1;
}

/* Reads { {scale=, zero_point=, qmin=, qmax=} | false per observer } into n kiln_fq. */
static kiln_fq *fq_list(lua_State *L, int t, int n) {
  luaL_argcheck(L, (int)lua_rawlen(L, t) == n, 2, "fake-quant list: one entry per observer");
  kiln_fq *fq = calloc((size_t)n + 1, sizeof *fq);
  if (!fq) luaL_error(L, "out of memory");
  for (int i = 0; i < n; i++) {
    if (lua_rawgeti(L, t, i + 1) == LUA_TTABLE) {
      int e = lua_gettop(L);
      fq[i].active = 1;
      lua_getfield(L, e, "scale");
      fq[i].scale = (float)luaL_checknumber(L, -1);
      lua_pop(L, 1);
      fq[i].zero_point = int_field(L, e, "zero_point", 0);
      fq[i].qmin = int_field(L, e, "qmin", 0);
      fq[i].qmax = int_field(L, e, "qmax", 0);
    }
    lua_pop(L, 1);
  }
  return fq;
}

/* Reads field k of table t ({scale=, zero_point=, qmin=, qmax=} or absent) into q. */
static const kiln_fq *fq_field(lua_State *L, int t, const char *k, kiln_fq *q) {
  const kiln_fq *found = NULL;
  if (lua_getfield(L, t, k) == LUA_TTABLE) {
    const int e = lua_gettop(L);
    q->active = 1;
    q->scale = number_field(L, e, "scale");
    q->zero_point = int_field(L, e, "zero_point", 0);
    q->qmin = int_field(L, e, "qmin", 0);
    q->qmax = int_field(L, e, "qmax", 0);
    found = q;
  }
  lua_pop(L, 1);
  return found;
}

/* m:fake_quant(layers, head [, inputs]): TICO's QUANT mode. layers = { {per observer} per layer },
 * head = {per observer}; an entry is {scale=, zero_point=, qmin=, qmax=} or false
 * (pass-through, for weight observers: give the model fake-quantized weights).
 * inputs = { embed =, mask =, cos =, sin = }: the model-level observers
 * (kiln_model_input_fq; once per model). m:fake_quant(nil) takes the layers
 * and the head back to float. */
static int model_fake_quant(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  free(u->fq);
  free(u->head_fq);
  u->fq = u->head_fq = NULL;
  u->m.fq = u->m.head_fq = NULL;
  if (lua_isnoneornil(L, 2)) return 0;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int nl = u->m.dims.n_layers, no = u->m.prog->n_obs;
  luaL_argcheck(L, (int)lua_rawlen(L, 2) == nl, 2, "one list per layer");
  u->fq = calloc((size_t)nl * no + 1, sizeof *u->fq);
  if (!u->fq) return luaL_error(L, "out of memory");
  for (int l = 0; l < nl; l++) {
    lua_rawgeti(L, 2, l + 1);
    kiln_fq *one = fq_list(L, lua_gettop(L), no);
    memcpy(u->fq + (size_t)l * no, one, (size_t)no * sizeof *one);
    free(one);
    lua_pop(L, 1);
  }
  u->head_fq = fq_list(L, 3, u->m.head_prog->n_obs);
  u->m.fq = u->fq;
  u->m.head_fq = u->head_fq;
  if (lua_istable(L, 4)) {
    kiln_fq q[4];
    const kiln_fq *embed = fq_field(L, 4, "embed", &q[0]), *mask = fq_field(L, 4, "mask", &q[1]);
    const kiln_fq *cos = fq_field(L, 4, "cos", &q[2]), *sin = fq_field(L, 4, "sin", &q[3]);
    kiln_model_input_fq(&u->m, embed, mask, cos, sin);
  }
  return 0;
}

static int *check_tokens(lua_State *L, int i, int *n) {
  luaL_checktype(L, i, LUA_TTABLE);
  *n = (int)lua_rawlen(L, i);
  int *tok = malloc(((size_t)*n + 1) * sizeof *tok);
  if (!tok) luaL_error(L, "out of memory");
  for (int k = 0; k < *n; k++) {
    lua_rawgeti(L, i, k + 1);
    tok[k] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  return tok;
}

/* m:forward(tokens, pos, all_rows, capture) -> Tensor of logits ([S][vocab] or
 * [vocab]) [, Tensor [layers + 1][S][D]: each layer's input, then the last
 * layer's output, when capture is true] */
static int model_forward(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  int n;
  int *tok = check_tokens(L, 2, &n);
  int pos = (int)luaL_checkinteger(L, 3);
  int all = lua_toboolean(L, 4);
  int capture = lua_toboolean(L, 5);
  tensor *cap = NULL;
  if (capture) {
    cap = tensor_new(L, (size_t)(u->m.dims.n_layers + 1) * (size_t)n * (size_t)u->m.dims.D);
    u->m.capture = cap->data;
  }
  int rc = kiln_model_forward(&u->m, tok, n, pos, all);
  u->m.capture = NULL;
  free(tok);
  if (rc != 0) luaL_error(L, "forward: %d tokens at position %d do not fit (max_seq %d) or a token is out of range",
                          n, pos, u->m.dims.max_seq);
  size_t rows = all ? (size_t)n : 1;
  tensor *t = tensor_new(L, rows * (size_t)u->m.dims.vocab);
  memcpy(t->data, u->m.logits, t->n * sizeof(float));
  if (capture) {
    lua_insert(L, -2); /* logits first, then the capture */
    return 2;
  }
  return 1;
}

/* m:cache(layer, first, n) -> K, V tensors [Hk][n][hd]: cached slots [first, first + n) */
static int model_cache(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2), first = (int)luaL_checkinteger(L, 3), n = (int)luaL_checkinteger(L, 4);
  luaL_argcheck(L, l >= 0 && l < d->n_layers && first >= 0 && n >= 0 && first + n <= d->max_seq, 2, "out of range");
  for (int which = 0; which < 2; which++) {
    const float *c = (which ? u->m.cache_v : u->m.cache_k) + (size_t)l * d->Hk * d->max_seq * d->hd;
    tensor *t = tensor_new(L, (size_t)d->Hk * n * d->hd);
    for (int h = 0; h < d->Hk; h++)
      memcpy((float *)t->data + (size_t)h * n * d->hd, c + ((size_t)h * d->max_seq + first) * d->hd,
             (size_t)n * d->hd * sizeof(float));
  }
  return 2;
}

/* m:run_layer(layer, x, pos, past_k, past_v [, trace]) -> y, new_k, new_v
 * [, { result tensor per observer }]: one decoder layer alone on x [S][D]
 * after the past [Hk][pos][hd] */
static int model_run_layer(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2);
  tensor *x = tensor_check(L, 3);
  int pos = (int)luaL_checkinteger(L, 4);
  tensor *pk = tensor_check(L, 5), *pv = tensor_check(L, 6);
  const int trace = lua_toboolean(L, 7); /* read before the results go on the stack */
  luaL_argcheck(L, x->n % (size_t)d->D == 0, 3, "x is not [S][D]");
  int S = (int)(x->n / (size_t)d->D);
  size_t past = (size_t)d->Hk * pos * d->hd;
  luaL_argcheck(L, pk->n == past && pv->n == past, 5, "past is not [Hk][pos][hd]");
  tensor *y = tensor_new(L, x->n);
  tensor *nk = tensor_new(L, (size_t)d->Hk * S * d->hd);
  tensor *nv = tensor_new(L, (size_t)d->Hk * S * d->hd);
  if (kiln_model_run_layer(&u->m, l, x->data, S, pos, pk->data, pv->data, y->data, nk->data, nv->data) != 0)
    return luaL_error(L, "run_layer: layer %d, %d rows at %d do not fit", l, S, pos);
  if (!trace) return 3;
  /* trace: every observer node's result, by observer index (1-based) */
  const kiln_program *pg = u->m.prog;
  lua_createtable(L, pg->n_obs, 0);
  for (int i = 0; i < pg->n_nodes; i++) {
    const kiln_node *nd = &pg->nodes[i];
    if (nd->obs < 0) continue;
    size_t n = u->m.graph.numel[nd->out];
    tensor *t = tensor_new(L, n);
    memcpy(t->data, u->m.graph.data[nd->out], n * sizeof(float));
    lua_rawseti(L, -2, nd->obs + 1);
  }
  return 4;
}

/* m:score(tokens) -> sum of -log p(tokens[i+1] | tokens[..i]) (double), count.
 * One prefill over tokens[1..n-1]; log-softmax accumulated in double. */
static int model_score(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  int n;
  int *tok = check_tokens(L, 2, &n);
  if (n < 2) {
    free(tok);
    lua_pushnumber(L, 0);
    lua_pushinteger(L, 0);
    return 2;
  }
  int rc = kiln_model_forward(&u->m, tok, n - 1, 0, 1);
  if (rc != 0) {
    free(tok);
    return luaL_error(L, "score: %d tokens do not fit (max_seq %d)", n, u->m.dims.max_seq);
  }
  int V = u->m.dims.vocab;
  double nll = 0.0;
  for (int i = 0; i < n - 1; i++) {
    const float *row = u->m.logits + (size_t)i * V;
    double mx = row[0];
    for (int j = 1; j < V; j++) if (row[j] > mx) mx = row[j];
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += kiln_exp((double)row[j] - mx);
    nll += mx + kiln_log(sum) - (double)row[tok[i + 1]];
  }
  free(tok);
  lua_pushnumber(L, nll);
  lua_pushinteger(L, n - 1);
  return 2;
}

/* m:exact_weights(scales): the model's layer params are fake-quantized; scales
 * = { { per-row scale array per param } per layer } lets the exact (double)
 * reference use their exact grid values. Call before the first exact run. */
static int model_exact_weights(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  luaL_checktype(L, 2, LUA_TTABLE);
  int nl = u->m.dims.n_layers, np = u->m.prog->n_params;
  luaL_argcheck(L, !u->m.params64 && !u->param_scales, 1, "exact weights must be set once, before exact runs");
  luaL_argcheck(L, (int)lua_rawlen(L, 2) == nl, 2, "one list per layer");
  u->param_scales = calloc((size_t)nl * np, sizeof *u->param_scales);
  u->param_rows = calloc((size_t)nl * np, sizeof *u->param_rows);
  if (!u->param_scales || !u->param_rows) return luaL_error(L, "out of memory");
  for (int l = 0; l < nl; l++) {
    lua_rawgeti(L, 2, l + 1);
    luaL_argcheck(L, (int)lua_rawlen(L, -1) == np, 2, "one scale array per param");
    for (int p = 0; p < np; p++) {
      lua_rawgeti(L, -1, p + 1);
      int rows = (int)lua_rawlen(L, -1);
      size_t k = (size_t)l * np + p;
      u->param_scales[k] = malloc(((size_t)rows + 1) * sizeof(float));
      if (!u->param_scales[k]) return luaL_error(L, "out of memory");
      u->param_rows[k] = rows;
      for (int r = 0; r < rows; r++) {
        lua_rawgeti(L, -1, r + 1);
        u->param_scales[k][r] = (float)luaL_checknumber(L, -1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  u->m.param_scales = (const float *const *)u->param_scales;
  u->m.param_rows = u->param_rows;
  return 0;
}

/* m:use_openblas(on): the float32 products through OpenBLAS's sgemm instead
 * of kiln_matmul (the benchmark's baseline: fast, but its sums depend on the
 * host), or back. */
static int model_use_openblas(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  u->m.graph.openblas = u->m.head.openblas = lua_toboolean(L, 2);
  return 0;
}

/* m:observe(on): start (reset) or stop recording observer ranges */
static int model_observe(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (kiln_model_observe(&u->m, lua_toboolean(L, 2)) != 0) return luaL_error(L, "out of memory");
  return 0;
}

static void push_ranges(lua_State *L, const float *mn, const float *mx, int n) {
  lua_createtable(L, n, 0);
  for (int o = 0; o < n; o++) {
    lua_createtable(L, 0, 2);
    lua_pushnumber(L, mn[o]);
    lua_setfield(L, -2, "min");
    lua_pushnumber(L, mx[o]);
    lua_setfield(L, -2, "max");
    lua_rawseti(L, -2, o + 1);
  }
}

/* m:ranges() -> { layers = { { {min=, max=} per observer } per layer }, head = {...} },
 * or nil if not observing */
static int model_ranges(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  if (!u->m.range_min) {
    lua_pushnil(L);
    return 1;
  }
  int nobs = u->m.prog->n_obs;
  lua_createtable(L, 0, 2);
  lua_createtable(L, u->m.dims.n_layers, 0);
  for (int l = 0; l < u->m.dims.n_layers; l++) {
    push_ranges(L, u->m.range_min + (size_t)l * nobs, u->m.range_max + (size_t)l * nobs, nobs);
    lua_rawseti(L, -2, l + 1);
  }
  lua_setfield(L, -2, "layers");
  push_ranges(L, u->m.head_min, u->m.head_max, u->m.head_prog->n_obs);
  lua_setfield(L, -2, "head");
  return 1;
}

/* native.rope_tables(max_seq, head_dim, rope) -> cos, sin tensors [max_seq][head_dim]
 * (rope: model/rope.lua's native form) */
static int l_rope_tables(lua_State *L) {
  int M = (int)luaL_checkinteger(L, 1), hd = (int)luaL_checkinteger(L, 2);
  kiln_rope rope;
  rope_arg(L, 3, &rope);
  luaL_argcheck(L, M > 0 && hd > 0 && hd % 2 == 0, 1, "bad RoPE table shape");
  tensor *c = tensor_new(L, (size_t)M * hd);
  tensor *s = tensor_new(L, (size_t)M * hd);
  kiln_rope_tables(c->data, s->data, M, hd, &rope);
  return 2;
}

/* Reads { scale =, zero_point = } at index i. */
static void grid_arg(lua_State *L, int i, double *scale, int *zp) {
  luaL_checktype(L, i, LUA_TTABLE);
  lua_getfield(L, i, "scale");
  *scale = (float)luaL_checknumber(L, -1); /* scales are float32 values */
  lua_getfield(L, i, "zero_point");
  *zp = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 2);
}

/* int16 codes at index i on a grid -> exact doubles (code - zp) * scale; a
 * float32 Tensor at i instead gives its values (the grid is not read). */
static double *codes_to_f64(lua_State *L, int i, int gi, size_t *n) {
  if (luaL_testudata(L, i, KILN_TENSOR)) {
    const tensor *t = tensor_check(L, i);
    const float *v = tensor_f32(L, i);
    *n = t->n;
    double *out = malloc((*n + 1) * sizeof *out);
    if (!out) luaL_error(L, "out of memory");
    for (size_t k = 0; k < *n; k++) out[k] = v[k];
    return out;
  }
  size_t len;
  const char *p = luaL_checklstring(L, i, &len);
  double scale;
  int zp;
  grid_arg(L, gi, &scale, &zp);
  *n = len / 2;
  double *out = malloc((*n + 1) * sizeof *out);
  if (!out) luaL_error(L, "out of memory");
  for (size_t k = 0; k < *n; k++) {
    int16_t q;
    memcpy(&q, p + 2 * k, 2);
    out[k] = (double)(q - zp) * scale;
  }
  return out;
}

static tensor *f64_tensor(lua_State *L, const double *x, size_t n) {
  tensor *t = tensor_new(L, n);
  float *y = t->data;
  for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
  return t;
}

/* m:run_layer_exact(layer, pos, x_codes, x_grid, k_codes, k_grid, v_codes, v_grid [, trace])
 * -> y, new_k, new_v [, { result per observer }]: the layer in double with
 * exact fake quantization (graph_f64.c) on inputs given as codes on their
 * grids ({ scale =, zero_point = }), or x as a float32 Tensor (a raw input,
 * as TICO's layer takes one; x_grid unused). Results are on their grids,
 * returned as float tensors (their codes quantize back exactly). */
static int model_run_layer_exact(lua_State *L) {
  model_ud *u = luaL_checkudata(L, 1, MODEL);
  const kiln_model_dims *d = &u->m.dims;
  int l = (int)luaL_checkinteger(L, 2), pos = (int)luaL_checkinteger(L, 3);
  const int trace = lua_toboolean(L, 10); /* read before the results go on the stack */
  size_t nx, nk, nv;
  double *x = codes_to_f64(L, 4, 5, &nx);
  double *pk = codes_to_f64(L, 6, 7, &nk);
  double *pv = codes_to_f64(L, 8, 9, &nv);
  int S = (int)(nx / (size_t)d->D);
  size_t kv = (size_t)d->Hk * S * d->hd;
  double *out = malloc((nx + 2 * kv + 1) * sizeof *out);
  int rc = -1;
  if (out && nx % (size_t)d->D == 0 && nk == (size_t)d->Hk * pos * d->hd && nv == nk)
    rc = kiln_model_run_layer_f64(&u->m, l, x, S, pos, pk, pv, out, out + nx, out + nx + kv);
  free(x); free(pk); free(pv);
  if (rc != 0) {
    free(out);
    return luaL_error(L, "run_layer_exact: bad shapes or out of memory");
  }
  f64_tensor(L, out, nx);
  f64_tensor(L, out + nx, kv);
  f64_tensor(L, out + nx + kv, kv);
  free(out);
  if (!trace) return 3;
  const kiln_program *pg = u->m.prog;
  lua_createtable(L, pg->n_obs, 0);
  for (int i = 0; i < pg->n_nodes; i++) {
    const kiln_node *nd = &pg->nodes[i];
    if (nd->obs < 0) continue;
    f64_tensor(L, (const double *)u->m.graph64.data[nd->out], u->m.graph64.numel[nd->out]);
    lua_rawseti(L, -2, nd->obs + 1);
  }
  return 4;
}

/* ---- measuring ----------------------------------------------------------- */

static const int16_t *check_codes(lua_State *L, int i, size_t *n) {
  size_t len;
  const char *p = luaL_checklstring(L, i, &len);
  luaL_argcheck(L, len % 2 == 0, i, "not a string of int16 codes");
  *n = len / 2;
  return (const int16_t *)(const void *)p;
}

/* native.dequantize(codes, scale, zero_point) -> Tensor (code - zp) * scale */
static int l_dequantize(lua_State *L) {
  size_t n;
  const int16_t *q = check_codes(L, 1, &n);
  float scale = (float)luaL_checknumber(L, 2);
  int zp = (int)luaL_checkinteger(L, 3);
  tensor *t = tensor_new(L, n);
  float *y = t->data;
  for (size_t i = 0; i < n; i++) y[i] = (float)(q[i] - zp) * scale;
  return 1;
}

/* native.code_diff(a, b) -> fraction of |a - b| <= 1, max |a - b|, count, fraction equal
 * (int16 code strings) */
static int l_code_diff(lua_State *L) {
  size_t n, m;
  const int16_t *a = check_codes(L, 1, &n), *b = check_codes(L, 2, &m);
  luaL_argcheck(L, n == m && n > 0, 2, "code strings differ in length");
  size_t within = 0, equal = 0;
  int worst = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    if (d <= 1) within++;
    if (d == 0) equal++;
    if (d > worst) worst = d;
  }
  lua_pushnumber(L, (double)within / (double)n);
  lua_pushinteger(L, worst);
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushnumber(L, (double)equal / (double)n);
  return 4;
}

/* native.diff_stats(ref, q) -> mean |ref - q|, max |ref - q|, min(ref), max(ref) */
static int l_diff_stats(lua_State *L) {
  const float *x = tensor_f32(L, 1), *y = tensor_f32(L, 2);
  const size_t n = tensor_check(L, 1)->n;
  luaL_argcheck(L, n == tensor_check(L, 2)->n && n > 0, 2, "tensors differ in length");
  double sum = 0.0, worst = 0.0;
  float lo = x[0], hi = x[0];
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - (double)y[i]);
    sum += d;
    if (d > worst) worst = d;
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  lua_pushnumber(L, sum / (double)n);
  lua_pushnumber(L, worst);
  lua_pushnumber(L, lo);
  lua_pushnumber(L, hi);
  return 4;
}

static void log_softmax(double *out, const double *x, int n) {
  double mx = x[0], sum = 0.0;
  for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
  for (int i = 0; i < n; i++) sum += kiln_exp(x[i] - mx);
  double lse = mx + kiln_log(sum);
  for (int i = 0; i < n; i++) out[i] = x[i] - lse;
}

/* native.logit_metrics(float_logits [n][V], codes [n][V], scale, zero_point, targets)
 * -> sum of NLL of targets[i] under the quantized logits, the same under the
 *    float logits, sum of KL(float || quantized), top-1 agreements, n.
 * targets: Lua array of n token ids (0-based); entries may be nil past the end. */
static int l_logit_metrics(lua_State *L) {
  tensor *f = tensor_check(L, 1);
  const float *fl = tensor_f32(L, 1);
  size_t nq;
  const int16_t *q = check_codes(L, 2, &nq);
  float scale = (float)luaL_checknumber(L, 3);
  int zp = (int)luaL_checkinteger(L, 4);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_Integer V = luaL_checkinteger(L, 6);
  luaL_argcheck(L, V > 0 && f->n == nq && nq % (size_t)V == 0, 2, "logit shapes differ");
  size_t n = nq / (size_t)V;
  double *xf = malloc((size_t)V * sizeof *xf), *xq = malloc((size_t)V * sizeof *xq);
  double *lf = malloc((size_t)V * sizeof *lf), *lq = malloc((size_t)V * sizeof *lq);
  if (!xf || !xq || !lf || !lq) return luaL_error(L, "out of memory");
  double nll_q = 0.0, nll_f = 0.0, kl = 0.0;
  lua_Integer agree = 0, scored = 0;
  for (size_t r = 0; r < n; r++) {
    int best_f = 0, best_q = 0;
    for (lua_Integer j = 0; j < V; j++) {
      xf[j] = fl[r * (size_t)V + (size_t)j];
      xq[j] = (double)((float)(q[r * (size_t)V + (size_t)j] - zp) * scale);
      if (xf[j] > xf[best_f]) best_f = (int)j;
      if (xq[j] > xq[best_q]) best_q = (int)j;
    }
    log_softmax(lf, xf, (int)V);
    log_softmax(lq, xq, (int)V);
    for (lua_Integer j = 0; j < V; j++) kl += kiln_exp(lf[j]) * (lf[j] - lq[j]);
    if (best_f == best_q) agree++;
    if (lua_rawgeti(L, 5, (lua_Integer)r + 1) == LUA_TNUMBER) {
      lua_Integer t = lua_tointeger(L, -1);
      if (t >= 0 && t < V) {
        nll_q -= lq[t];
        nll_f -= lf[t];
        scored++;
      }
    }
    lua_pop(L, 1);
  }
  free(xf); free(xq); free(lf); free(lq);
  lua_pushnumber(L, nll_q);
  lua_pushnumber(L, nll_f);
  lua_pushnumber(L, kl);
  lua_pushinteger(L, agree);
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushinteger(L, scored);
  return 6;
}

/* ---- sampling and small helpers ------------------------------------------- */

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

/* native.argmax(t) -> 0-based index of the largest value */
static int l_argmax(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  lua_pushinteger(L, kiln_argmax(tensor_f32(L, 1), (int)t->n));
  return 1;
}

/* native.sample(logits, temperature, topp, rng_state) -> token, new_state.
 * The logits tensor is consumed (overwritten). */
static int l_sample(lua_State *L) {
  tensor *t = tensor_check(L, 1);
  float temperature = (float)luaL_checknumber(L, 2);
  float topp = (float)luaL_checknumber(L, 3);
  uint64_t state = (uint64_t)luaL_checkinteger(L, 4);
  float coin = temperature == 0.0f ? 0.0f : kiln_random_f32(&state);
  lua_pushinteger(L, kiln_sample(tensor_f32(L, 1), (int)t->n, temperature, topp, coin));
  lua_pushinteger(L, (lua_Integer)state);
  return 2;
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

/* ---- registration ------------------------------------------------------- */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  if (methods) {
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

int luaopen_kiln_native(lua_State *L) {
  /* OpenBLAS is only the benchmark's float baseline (m:use_openblas), and
   * single-threaded like everything it is compared with; one thread also
   * keeps helper threads from spinning beside the generator. */
  openblas_set_num_threads(1);
  static const luaL_Reg model_methods[] = {
      { "forward", model_forward },
      { "score", model_score },
      { "observe", model_observe },
      { "use_openblas", model_use_openblas },
      { "ranges", model_ranges },
      { "fake_quant", model_fake_quant },
      { "cache", model_cache },
      { "run_layer", model_run_layer },
      { "run_layer_exact", model_run_layer_exact },
      { "exact_weights", model_exact_weights },
      { NULL, NULL },
  };
  static const luaL_Reg functions[] = {
      { "c_array", c_array },
      { "row_sums", row_sums },
      { "pack_blocks", pack_blocks },
      { "write_normal", write_normal },
      { "rope_tables", l_rope_tables },
      { "dequantize", l_dequantize },
      { "code_diff", l_code_diff },
      { "diff_stats", l_diff_stats },
      { "logit_metrics", l_logit_metrics },
      { "program", program_new },
      { "model", model_new },
      { "argmax", l_argmax },
      { "sample", l_sample },
      { "isatty", l_isatty },
      { "monotonic", l_monotonic },
      { "matmul_kernels", l_matmul_kernels },
      { NULL, NULL },
  };
  static const luaL_Reg code_methods[] = {
      { "quantize", tensor_quantize },
      { NULL, NULL },
  };
  new_class(L, PROGRAM, NULL, program_gc);
  new_class(L, MODEL, model_methods, model_gc);
  luaL_newlib(L, functions);
  tensor_register(L, code_methods);
  q8_0_register(L);
  regex_register(L);
  unicode_register(L);
  bpe_register(L);
  return 1;
}
