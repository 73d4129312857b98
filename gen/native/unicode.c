/*
 * Unicode for the tokenizers (unicode.h): table lookups, UTF-8, and the
 * normalization forms of UAX #15 (decomposition, canonical ordering,
 * canonical composition, Hangul by arithmetic).
 */
#include "unicode.h"

#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h" /* generated at build time into .build/ */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Hangul syllables (UAX #15, 3.12) */
#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

static int range_value(const uni_range *r, size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (cp < r[mid].first)
      hi = mid;
    else if (cp > r[mid].last)
      lo = mid + 1;
    else
      return r[mid].value;
  }
  return -1;
}

int uni_category(uint32_t cp) {
  const int v = range_value(UNI_CATEGORY, COUNT(UNI_CATEGORY), cp);
  return v < 0 ? UNI_Cn : v;
}

int uni_white_space(uint32_t cp) { return range_value(UNI_WHITE_SPACE, COUNT(UNI_WHITE_SPACE), cp) >= 0; }

static int combining_class(uint32_t cp) {
  const int v = range_value(UNI_COMBINING_CLASS, COUNT(UNI_COMBINING_CLASS), cp);
  return v < 0 ? 0 : v;
}

uint32_t uni_category_mask(const char *name) {
  uint32_t mask = 0;
  const size_t n = strlen(name);
  for (int c = 0; c < UNI_CATEGORY_COUNT; c++) {
    const char *cat = UNI_CATEGORY_NAMES[c];
    if ((n == 1 && cat[0] == name[0]) || (n == 2 && strcmp(cat, name) == 0)) mask |= 1u << c;
  }
  return mask;
}

int32_t uni_decode(const unsigned char *s, size_t n, size_t *i) {
  const size_t at = *i;
  const unsigned c = s[at];
  size_t len;
  uint32_t cp, min;
  if (c < 0x80) {
    *i = at + 1;
    return (int32_t)c;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (at + len > n) return -1;
  for (size_t k = 1; k < len; k++) {
    if ((s[at + k] & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (s[at + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i = at + len;
  return (int32_t)cp;
}

void uni_encode(luaL_Buffer *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  luaL_addlstring(b, u, n);
}

size_t uni_invalid_at(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n)
    if (uni_decode(s, n, &i) < 0) return i;
  return n;
}

/* ---- normalization ------------------------------------------------------ */

typedef struct {
  uint32_t *cp;
  size_t n, cap;
} cp_list;

static int push(cp_list *l, uint32_t cp) {
  if (l->n == l->cap) {
    const size_t cap = l->cap ? 2 * l->cap : 64;
    uint32_t *p = realloc(l->cp, cap * sizeof *p);
    if (!p) return -1;
    l->cp = p, l->cap = cap;
  }
  l->cp[l->n++] = cp;
  return 0;
}

static const uni_decomposition *decomposition_of(uint32_t cp) {
  size_t lo = 0, hi = COUNT(UNI_DECOMPOSITION);
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (UNI_DECOMPOSITION[mid].cp < cp)
      lo = mid + 1;
    else if (UNI_DECOMPOSITION[mid].cp > cp)
      hi = mid;
    else
      return &UNI_DECOMPOSITION[mid];
  }
  return NULL;
}

/* The full decomposition of cp (compatibility ones too when compat). */
static int decompose(cp_list *out, uint32_t cp, int compat) {
  if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
    const uint32_t s = cp - S_BASE, t = s % T_COUNT;
    if (push(out, L_BASE + s / N_COUNT) || push(out, V_BASE + (s % N_COUNT) / T_COUNT)) return -1;
    return t ? push(out, T_BASE + t) : 0;
  }
  const uni_decomposition *d = decomposition_of(cp);
  if (!d || (d->compat && !compat)) return push(out, cp);
  for (unsigned k = 0; k < d->len; k++)
    if (decompose(out, UNI_DECOMPOSITION_POOL[d->at + k], compat)) return -1;
  return 0;
}

/* Canonical ordering: each run of non-starters sorted by combining class, stably. */
static void reorder(cp_list *l) {
  for (size_t i = 1; i < l->n; i++) {
    const uint32_t c = l->cp[i];
    const int cc = combining_class(c);
    if (cc == 0) continue;
    size_t j = i;
    while (j > 0 && combining_class(l->cp[j - 1]) > cc) {
      l->cp[j] = l->cp[j - 1];
      j--;
    }
    l->cp[j] = c;
  }
}

/* The primary composite of a and b, or 0. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
    return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
  if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
    return a + (b - T_BASE);
  size_t lo = 0, hi = COUNT(UNI_COMPOSITION);
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const uni_composition *p = &UNI_COMPOSITION[mid];
    if (p->first < a || (p->first == a && p->second < b))
      lo = mid + 1;
    else if (p->first > a || p->second > b)
      hi = mid;
    else
      return p->composite;
  }
  return 0;
}

/* Canonical composition in place (UAX #15, 3.11). */
static void compose(cp_list *l) {
  if (l->n == 0) return;
  size_t starter = 0, out = 1;
  int last_class = combining_class(l->cp[0]) ? 256 : 0; /* a leading mark blocks */
  for (size_t i = 1; i < l->n; i++) {
    const uint32_t c = l->cp[i];
    const int cc = combining_class(c);
    const uint32_t composite = compose_pair(l->cp[starter], c);
    if (composite && (last_class < cc || last_class == 0)) {
      l->cp[starter] = composite;
      continue;
    }
    if (cc == 0) starter = out;
    last_class = cc;
    l->cp[out++] = c;
  }
  l->n = out;
}

static int l_normalize(lua_State *L) {
  static const char *const forms[] = { "NFC", "NFD", "NFKC", "NFKD", NULL };
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  const int form = luaL_checkoption(L, 2, NULL, forms);
  const int compat = form >= 2, composed = form % 2 == 0;
  cp_list l = { NULL, 0, 0 };
  for (size_t i = 0; i < n;) {
    const int32_t cp = uni_decode(s, n, &i);
    if (cp < 0) {
      free(l.cp);
      return luaL_error(L, "normalize: invalid UTF-8 at byte %d", (int)i);
    }
    if (decompose(&l, (uint32_t)cp, compat)) {
      free(l.cp);
      return luaL_error(L, "out of memory");
    }
  }
  reorder(&l);
  if (composed) compose(&l);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < l.n; i++) uni_encode(&b, l.cp[i]);
  free(l.cp);
  luaL_pushresult(&b);
  return 1;
}

static int l_category(lua_State *L) {
  lua_pushstring(L, UNI_CATEGORY_NAMES[uni_category((uint32_t)luaL_checkinteger(L, 1))]);
  return 1;
}

static int l_invalid_at(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  const size_t at = uni_invalid_at(s, n);
  if (at == n)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)at);
  return 1;
}

/* The bytes after a valid prefix of a UTF-8 sequence starting at s[0]: how
 * many bytes of an invalid sequence make one replacement character (the
 * "maximal subpart" of Unicode 3.9, what Rust's from_utf8_lossy replaces). */
static size_t invalid_length(const unsigned char *s, size_t n) {
  const unsigned c = s[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t need;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 1;
  size_t k = 1;
  for (; k <= need && k < n; k++) {
    const unsigned b = s[k];
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
  }
  return k;
}

/* native.utf8_lossy(bytes) -> text: each invalid sequence replaced by U+FFFD */
static int l_lossy(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n;) {
    const size_t at = i;
    if (uni_decode(s, n, &i) >= 0) {
      luaL_addlstring(&b, (const char *)s + at, i - at);
    } else {
      uni_encode(&b, 0xFFFD);
      i = at + invalid_length(s + at, n - at);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

void unicode_register(lua_State *L) {
  static const luaL_Reg functions[] = {
      { "utf8_lossy", l_lossy },
      { "unicode_normalize", l_normalize },
      { "unicode_category", l_category },
      { "utf8_invalid_at", l_invalid_at },
      { NULL, NULL },
  };
  luaL_setfuncs(L, functions, 0);
}
