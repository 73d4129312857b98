/*
 * The regular expressions of tokenizer.json (pre-tokenizer Split patterns,
 * the GPT-2 pattern of ByteLevel), matched as Hugging Face tokenizers'
 * Oniguruma matches them: backtracking, alternatives in order (the first
 * that matches wins), greedy quantifiers, leftmost matches found one after
 * another. Unicode classes come from the Unicode Character Database
 * (unicode.h).
 *
 * This file is the Lua binding (kiln.Regex); the pattern is parsed by
 * regex_parse.c and regex_charset.c (the syntax accepted is described
 * there), compiled by regex_compile.c and matched by regex_match.c.
 */
#include "regex.h"

#include "regex_internal.h"
#include "unicode.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#define REGEX "kiln.Regex"
/* Matching steps a text of n bytes may take before it is refused as too much backtracking. */
#define MAX_STEPS(n) (100000000L + 4000L * (long)(n))

typedef struct {
  program pg;
} regex_ud;

static int regex_gc(lua_State *L) {
  regex_ud *r = luaL_checkudata(L, 1, REGEX);
  for (int k = 0; k < r->pg.n_sets; k++) free(r->pg.sets[k].ranges);
  free(r->pg.sets);
  free(r->pg.code);
  memset(r, 0, sizeof *r);
  return 0;
}


/* native.regex(pattern) -> Regex | nil, message */
static int regex_new(lua_State *L) {
  size_t len;
  const char *pattern = luaL_checklstring(L, 1, &len);
  parser *ps = calloc(1, sizeof *ps);
  if (!ps) return luaL_error(L, "out of memory");
  const node *root = regex_parse(ps, pattern, len);
  regex_ud *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, REGEX);
  r->pg.sets = ps->sets;
  r->pg.n_sets = ps->n_sets;
  if (root && regex_compile(&r->pg, root))
    snprintf(ps->error, sizeof ps->error, "out of memory"), root = NULL;
  if (!root) {
    lua_pushnil(L);
    lua_pushstring(L, ps->error[0] ? ps->error : "bad pattern");
    free(ps);
    return 2;
  }
  free(ps);
  return 1;
}

/* re:find_all(text) -> { s1, e1, s2, e2, ... }: the leftmost matches one after
 * another, as byte offsets (start 0-based, end exclusive); an empty match
 * moves the search one character on. nil, message when matching takes too long. */
static int regex_find_all(lua_State *L) {
  regex_ud *r = luaL_checkudata(L, 1, REGEX);
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 2, &n);
  matcher m = { &r->pg, s, n, NULL, 0, 0, MAX_STEPS(n), 0 };
  lua_newtable(L);
  lua_Integer k = 0;
  size_t at = 0;
  while (at <= n) {
    long end = -1;
    size_t start = at;
    for (; start <= n; ) {
      end = regex_run(&m, 0, start, 0);
      if (end >= 0 || m.too_long) break;
      if (start == n) break;
      size_t next = start;
      if (uni_decode(s, n, &next) < 0) next = start + 1;
      start = next;
    }
    if (m.too_long) {
      free(m.stack);
      lua_pushnil(L);
      lua_pushstring(L, "the pattern backtracks too long on this text");
      return 2;
    }
    if (end < 0) break;
    lua_pushinteger(L, (lua_Integer)start);
    lua_rawseti(L, -2, ++k);
    lua_pushinteger(L, (lua_Integer)end);
    lua_rawseti(L, -2, ++k);
    if ((size_t)end == start) { /* an empty match: go on after the next character */
      if (start == n) break;
      size_t next = start;
      if (uni_decode(s, n, &next) < 0) next = start + 1;
      at = next;
    } else {
      at = (size_t)end;
    }
  }
  free(m.stack);
  return 1;
}

void regex_register(lua_State *L) {
  static const luaL_Reg methods[] = { { "find_all", regex_find_all }, { NULL, NULL } };
  luaL_newmetatable(L, REGEX);
  lua_pushcfunction(L, regex_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, regex_new);
  lua_setfield(L, -2, "regex");
}
