/*
 * The BPE model of tokenizer.json, as Hugging Face tokenizers applies it to
 * one pre-tokenized word (models/bpe: merge_word, Word::merge_all): the
 * word's characters looked up in the vocabulary (byte fallback to <0xXX>
 * tokens, or the unknown token, fused when fuse_unk), then the merges in
 * rank order, the lowest first and the leftmost of equal ranks, each merge
 * recomputing only its neighbours' pairs (a heap of candidates).
 *
 *   native.bpe(vocab, merges, options) -> BPE | nil, message
 *     vocab   { [token] = id }       merges  { {left, right}, ... } in rank order
 *     options { byte_fallback = bool, unk = id | nil, fuse_unk = bool, ignore_merges = bool }
 *   bpe:encode(word, out, n) -> n: appends the ids of word to out[n+1..], returns the new count
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode.h"

#define BPE "kiln.BPE"

typedef struct {
  uint32_t at, len; /* in the string pool; len 0 = empty slot */
  int32_t id;
} str_slot;

typedef struct {
  uint64_t key; /* left << 32 | right, + 1 (0 = empty) */
  uint32_t rank;
  int32_t id;
} merge_slot;

typedef struct {
  char *pool;
  size_t pool_len;
  str_slot *vocab;
  size_t vocab_cap; /* a power of two */
  merge_slot *merges;
  size_t merges_cap;
  int32_t byte_id[256];
  int byte_fallback, fuse_unk, ignore_merges;
  int32_t unk; /* -1: none */
} bpe;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t hash_key(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return k;
}

static int32_t vocab_get(const bpe *b, const char *s, size_t n) {
  size_t i = hash_bytes(s, n) & (b->vocab_cap - 1);
  for (;; i = (i + 1) & (b->vocab_cap - 1)) {
    const str_slot *e = &b->vocab[i];
    if (e->len == 0) return -1;
    if (e->len == n && memcmp(b->pool + e->at, s, n) == 0) return e->id;
  }
}

static const merge_slot *merge_get(const bpe *b, int32_t left, int32_t right) {
  const uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
  size_t i = hash_key(key) & (b->merges_cap - 1);
  for (;; i = (i + 1) & (b->merges_cap - 1)) {
    const merge_slot *e = &b->merges[i];
    if (e->key == 0) return NULL;
    if (e->key == key) return e;
  }
}

static size_t power_of_two_above(size_t n) {
  size_t c = 16;
  while (c < 2 * n) c *= 2;
  return c;
}

static int bpe_gc(lua_State *L) {
  bpe *b = luaL_checkudata(L, 1, BPE);
  free(b->pool);
  free(b->vocab);
  free(b->merges);
  memset(b, 0, sizeof *b);
  return 0;
}

static int refuse(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushnil(L);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return 2;
}

static int bpe_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  bpe *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, BPE);
  const int self = lua_gettop(L);

  size_t count = 0, bytes = 0;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    size_t n;
    if (lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1)) return refuse(L, "vocab: entries must be string: id");
    lua_tolstring(L, -2, &n);
    if (n == 0) return refuse(L, "vocab: an empty token");
    count++, bytes += n;
    lua_pop(L, 1);
  }
  b->vocab_cap = power_of_two_above(count);
  b->vocab = calloc(b->vocab_cap, sizeof *b->vocab);
  b->pool = malloc(bytes + 1);
  if (!b->vocab || !b->pool) return luaL_error(L, "out of memory");
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    size_t n;
    const char *s = lua_tolstring(L, -2, &n);
    const lua_Integer id = lua_tointeger(L, -1);
    if (id < 0 || id > INT32_MAX) return refuse(L, "vocab: id %I of '%s' is out of range", id, s);
    size_t i = hash_bytes(s, n) & (b->vocab_cap - 1);
    while (b->vocab[i].len) i = (i + 1) & (b->vocab_cap - 1);
    memcpy(b->pool + b->pool_len, s, n);
    b->vocab[i].at = (uint32_t)b->pool_len;
    b->vocab[i].len = (uint32_t)n;
    b->vocab[i].id = (int32_t)id;
    b->pool_len += n;
    lua_pop(L, 1);
  }

  const size_t n_merges = (size_t)lua_rawlen(L, 2);
  b->merges_cap = power_of_two_above(n_merges);
  b->merges = calloc(b->merges_cap, sizeof *b->merges);
  if (!b->merges) return luaL_error(L, "out of memory");
  luaL_Buffer joined;
  for (size_t r = 0; r < n_merges; r++) {
    lua_rawgeti(L, 2, (lua_Integer)r + 1);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    size_t na, nb;
    const char *a = lua_tolstring(L, -2, &na), *c = lua_tolstring(L, -1, &nb);
    if (!a || !c) return refuse(L, "merges[%d]: not a pair of tokens", (int)r);
    const int32_t ia = vocab_get(b, a, na), ib = vocab_get(b, c, nb);
    luaL_buffinit(L, &joined);
    luaL_addlstring(&joined, a, na);
    luaL_addlstring(&joined, c, nb);
    luaL_pushresult(&joined);
    size_t nj;
    const char *j = lua_tolstring(L, -1, &nj);
    const int32_t id = vocab_get(b, j, nj);
    if (ia < 0 || ib < 0 || id < 0)
      return refuse(L, "merges[%d]: \"%s %s\" uses or makes a token that is not in the vocab", (int)r, a, c);
    const uint64_t key = (((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib) + 1;
    size_t i = hash_key(key) & (b->merges_cap - 1);
    while (b->merges[i].key && b->merges[i].key != key) i = (i + 1) & (b->merges_cap - 1);
    b->merges[i].key = key; /* a repeated pair keeps its last rank, as tokenizers' map does */
    b->merges[i].rank = (uint32_t)r;
    b->merges[i].id = id;
    lua_pop(L, 4);
  }

  lua_getfield(L, 3, "byte_fallback");
  b->byte_fallback = lua_toboolean(L, -1);
  lua_getfield(L, 3, "fuse_unk");
  b->fuse_unk = lua_toboolean(L, -1);
  lua_getfield(L, 3, "ignore_merges");
  b->ignore_merges = lua_toboolean(L, -1);
  lua_getfield(L, 3, "unk");
  b->unk = lua_isinteger(L, -1) ? (int32_t)lua_tointeger(L, -1) : -1;
  lua_pop(L, 4);
  for (int c = 0; c < 256; c++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", c);
    b->byte_id[c] = vocab_get(b, name, 6);
  }
  lua_settop(L, self);
  return 1;
}

/* ---- one word ---------------------------------------------------------- */

typedef struct {
  int32_t id;
  int prev, next; /* -1: none */
  int alive;
} symbol;

typedef struct {
  uint32_t rank;
  int pos;
  int32_t id;
} candidate;

static int before(const candidate *a, const candidate *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(candidate *h, size_t *n, candidate c) {
  size_t i = (*n)++;
  h[i] = c;
  while (i > 0 && before(&h[i], &h[(i - 1) / 2])) {
    const candidate t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static candidate heap_pop(candidate *h, size_t *n) {
  const candidate top = h[0];
  h[0] = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t m = i;
    const size_t l = 2 * i + 1, r = l + 1;
    if (l < *n && before(&h[l], &h[m])) m = l;
    if (r < *n && before(&h[r], &h[m])) m = r;
    if (m == i) break;
    const candidate t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

static void consider(const bpe *b, const symbol *s, int pos, candidate *h, size_t *n) {
  if (pos < 0 || s[pos].next < 0) return;
  const merge_slot *m = merge_get(b, s[pos].id, s[s[pos].next].id);
  if (m) {
    const candidate c = { m->rank, pos, m->id };
    heap_push(h, n, c);
  }
}

static void add_symbol(symbol *s, int *ns, int32_t id) {
  const int k = (*ns)++;
  s[k].id = id, s[k].prev = k - 1, s[k].next = -1, s[k].alive = 1;
  if (k > 0) s[k - 1].next = k;
}

static int bpe_encode(lua_State *L) {
  bpe *b = luaL_checkudata(L, 1, BPE);
  size_t n;
  const unsigned char *w = (const unsigned char *)luaL_checklstring(L, 2, &n);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer count = luaL_checkinteger(L, 4);
  if (n == 0) {
    lua_pushinteger(L, count);
    return 1;
  }
  if (b->ignore_merges) {
    const int32_t id = vocab_get(b, (const char *)w, n);
    if (id >= 0) {
      lua_pushinteger(L, id);
      lua_rawseti(L, 3, ++count);
      lua_pushinteger(L, count);
      return 1;
    }
  }
  symbol *s = malloc(n * sizeof *s);             /* at most one symbol a byte */
  candidate *h = malloc(4 * n * sizeof *h + 1);  /* each merge pushes at most two */
  if (!s || !h) {
    free(s);
    free(h);
    return luaL_error(L, "out of memory");
  }
  int ns = 0;
  int32_t unk = -1; /* a pending unknown token (fuse_unk) */
  for (size_t i = 0; i < n;) {
    const size_t start = i;
    if (uni_decode(w, n, &i) < 0) i = start + 1; /* the caller checked the text: not reached */
    const int32_t id = vocab_get(b, (const char *)w + start, i - start);
    if (id >= 0) {
      if (unk >= 0) add_symbol(s, &ns, unk);
      unk = -1;
      add_symbol(s, &ns, id);
      continue;
    }
    int bytes_ok = b->byte_fallback;
    for (size_t k = start; k < i && bytes_ok; k++) bytes_ok = b->byte_id[w[k]] >= 0;
    if (bytes_ok) {
      for (size_t k = start; k < i; k++) add_symbol(s, &ns, b->byte_id[w[k]]);
      continue;
    }
    if (b->unk >= 0) {
      if (unk >= 0 && !b->fuse_unk) add_symbol(s, &ns, unk);
      unk = b->unk;
    }
  }
  if (unk >= 0) add_symbol(s, &ns, unk);
  size_t nh = 0;
  for (int p = 0; p + 1 < ns; p++) consider(b, s, p, h, &nh);
  while (nh > 0) {
    const candidate c = heap_pop(h, &nh);
    symbol *left = &s[c.pos];
    if (!left->alive || left->next < 0) continue;
    symbol *right = &s[left->next];
    const merge_slot *m = merge_get(b, left->id, right->id);
    if (!m || m->id != c.id) continue; /* the pair changed since it was queued */
    left->id = c.id;
    right->alive = 0;
    left->next = right->next;
    if (right->next >= 0) s[right->next].prev = c.pos;
    consider(b, s, left->prev, h, &nh);
    consider(b, s, c.pos, h, &nh);
  }
  for (int p = ns > 0 ? 0 : -1; p >= 0; p = s[p].next) {
    lua_pushinteger(L, s[p].id);
    lua_rawseti(L, 3, ++count);
  }
  free(s);
  free(h);
  lua_pushinteger(L, count);
  return 1;
}

void bpe_register(lua_State *L) {
  static const luaL_Reg methods[] = { { "encode", bpe_encode }, { NULL, NULL } };
  luaL_newmetatable(L, BPE);
  lua_pushcfunction(L, bpe_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, bpe_new);
  lua_setfield(L, -2, "bpe");
}
