/*
 * The regular expressions of tokenizer.json (pre-tokenizer Split patterns,
 * the GPT-2 pattern of ByteLevel), matched as Hugging Face tokenizers'
 * Oniguruma matches them: backtracking, alternatives in order (the first
 * that matches wins), greedy quantifiers, leftmost matches found one after
 * another. Unicode classes come from the Unicode Character Database
 * (unicode.h).
 *
 * Syntax: literals (UTF-8), . (not \n), [...] and [^...] with ranges and
 * the escapes below, escapes \s \S \d \D \w \W \p{X} \P{X} (X a general
 * category, one letter for the union) \r \n \t \f \v \e \0 \xHH \x{H..}
 * \uHHHH and escaped punctuation, groups (...) (?:...) (?i:...), look-ahead
 * (?=...) (?!...), alternation |, quantifiers ? * + {n} {n,} {n,m} and their
 * lazy forms. Anything else (anchors, back references, look-behind,
 * possessive quantifiers, inline options other than (?i:)) is refused when
 * the pattern is compiled, with what and where.
 */
#include "regex.h"

#include "unicode.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#define REGEX "kiln.Regex"
#define MAX_NODES 4096
/* Matching steps a text of n bytes may take before it is refused as too much backtracking. */
#define MAX_STEPS(n) (100000000L + 4000L * (long)(n))

/* ---- the syntax tree ------------------------------------------------------ */

enum node_kind { N_EMPTY, N_SET, N_CAT, N_ALT, N_REPEAT, N_AHEAD, N_NOT_AHEAD };

#define MAX_COMPLEMENTS 4

/* A set of code points: the union of ranges, categories, White_Space and
 * complements (what \S, \D, \W, \P{X} leave out), negated or not. */
typedef struct {
  uint32_t (*ranges)[2];
  int n_ranges, cap;
  uint32_t categories; /* bit mask over enum uni_category */
  int space;           /* White_Space */
  struct {
    uint32_t categories;
    int space;
  } outside[MAX_COMPLEMENTS]; /* members: code points outside these */
  int n_outside;
  int negated;
} cset;

typedef struct node {
  enum node_kind kind;
  struct node *a, *b; /* CAT, ALT: both; REPEAT, AHEAD: a */
  int min, max;       /* REPEAT: max -1 = unbounded */
  int lazy;
  int set;            /* N_SET: index into the sets */
} node;

typedef struct {
  const char *p, *end, *pattern;
  node nodes[MAX_NODES];
  int n_nodes;
  cset *sets;
  int n_sets, sets_cap;
  int fold; /* inside (?i:) */
  char error[160];
} parser;

static node *new_node(parser *ps, enum node_kind kind) {
  if (ps->n_nodes == MAX_NODES) {
    snprintf(ps->error, sizeof ps->error, "the pattern is too long");
    return NULL;
  }
  node *n = &ps->nodes[ps->n_nodes++];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  return n;
}

static int fail_at(parser *ps, const char *what) {
  snprintf(ps->error, sizeof ps->error, "%s at offset %d", what, (int)(ps->p - ps->pattern));
  return -1;
}

static int add_range(cset *s, uint32_t lo, uint32_t hi) {
  if (s->n_ranges == s->cap) {
    const int cap = s->cap ? 2 * s->cap : 8;
    uint32_t(*r)[2] = realloc(s->ranges, (size_t)cap * sizeof *r);
    if (!r) return -1;
    s->ranges = r, s->cap = cap;
  }
  s->ranges[s->n_ranges][0] = lo;
  s->ranges[s->n_ranges][1] = hi;
  s->n_ranges++;
  return 0;
}

/* Adds [lo, hi], and under (?i:) the other case of its ASCII letters. */
static int add_folded(parser *ps, cset *s, uint32_t lo, uint32_t hi) {
  if (add_range(s, lo, hi)) return -1;
  if (!ps->fold) return 0;
  for (uint32_t c = lo; c <= hi && c < 0x80; c++) {
    if (c >= 'a' && c <= 'z' && add_range(s, c - 32, c - 32)) return -1;
    if (c >= 'A' && c <= 'Z' && add_range(s, c + 32, c + 32)) return -1;
  }
  if (hi >= 0x80) {
    for (uint32_t c = lo < 0x80 ? 0x80 : lo; c <= hi; c++)
      if (uni_category(c) == UNI_Lu || uni_category(c) == UNI_Ll || uni_category(c) == UNI_Lt)
        return fail_at(ps, "(?i:) of a non-ASCII letter is not supported");
  }
  return 0;
}

static int new_set(parser *ps) {
  if (ps->n_sets == ps->sets_cap) {
    const int cap = ps->sets_cap ? 2 * ps->sets_cap : 16;
    cset *s = realloc(ps->sets, (size_t)cap * sizeof *s);
    if (!s) return -1;
    ps->sets = s, ps->sets_cap = cap;
  }
  memset(&ps->sets[ps->n_sets], 0, sizeof(cset));
  return ps->n_sets++;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads one code point of the pattern (UTF-8). */
static int read_cp(parser *ps, uint32_t *cp) {
  size_t i = 0;
  const int32_t c = uni_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &i);
  if (c < 0) return fail_at(ps, "invalid UTF-8");
  ps->p += i;
  *cp = (uint32_t)c;
  return 0;
}

static int read_hex(parser *ps, int digits, uint32_t *cp) {
  uint32_t v = 0;
  for (int k = 0; k < digits; k++) {
    const int h = ps->p < ps->end ? hex_value(*ps->p) : -1;
    if (h < 0) return fail_at(ps, "bad hexadecimal escape");
    v = v * 16 + (uint32_t)h;
    ps->p++;
  }
  *cp = v;
  return 0;
}

/* \w: Letter, Mark, Decimal_Number, Connector_Punctuation (Oniguruma's Unicode \w) */
#define WORD_CATEGORIES                                                                                       \
  ((1u << UNI_Lu) | (1u << UNI_Ll) | (1u << UNI_Lt) | (1u << UNI_Lm) | (1u << UNI_Lo) | (1u << UNI_Mn) |        \
   (1u << UNI_Mc) | (1u << UNI_Me) | (1u << UNI_Nd) | (1u << UNI_Pc))

/* Adds to s the code points outside (categories, White_Space). */
static int outside(parser *ps, cset *s, uint32_t categories, int space) {
  if (s->n_outside == MAX_COMPLEMENTS) return fail_at(ps, "too many negated classes in one class");
  s->outside[s->n_outside].categories = categories;
  s->outside[s->n_outside].space = space;
  s->n_outside++;
  return 0;
}

/* An escape after '\': either one code point (*cp, returns 1) or a class
 * added to s (returns 0); -1 on error. */
static int escape(parser *ps, cset *s, uint32_t *cp) {
  if (ps->p >= ps->end) return fail_at(ps, "a pattern ends with a backslash");
  const char c = *ps->p++;
  switch (c) {
  case 'n': *cp = '\n'; return 1;
  case 'r': *cp = '\r'; return 1;
  case 't': *cp = '\t'; return 1;
  case 'f': *cp = '\f'; return 1;
  case 'v': *cp = '\v'; return 1;
  case 'e': *cp = 0x1B; return 1;
  case '0': *cp = 0; return 1;
  case 'x':
    if (ps->p < ps->end && *ps->p == '{') {
      ps->p++;
      uint32_t v = 0;
      int digits = 0;
      while (ps->p < ps->end && *ps->p != '}') {
        const int h = hex_value(*ps->p++);
        if (h < 0 || ++digits > 6) return fail_at(ps, "bad \\x{...} escape");
        v = v * 16 + (uint32_t)h;
      }
      if (ps->p >= ps->end || digits == 0 || v > 0x10FFFF) return fail_at(ps, "bad \\x{...} escape");
      ps->p++;
      *cp = v;
      return 1;
    }
    return read_hex(ps, 2, cp) ? -1 : 1;
  case 'u': return read_hex(ps, 4, cp) ? -1 : 1;
  case 's': s->space = 1; return 0;
  case 'd': s->categories |= 1u << UNI_Nd; return 0;
  case 'w': s->categories |= WORD_CATEGORIES; return 0;
  case 'p':
  case 'P': {
    char name[8];
    int k = 0;
    if (ps->p >= ps->end || *ps->p != '{') return fail_at(ps, "\\p needs {Category}");
    ps->p++;
    if (ps->p < ps->end && *ps->p == '^') return fail_at(ps, "\\p{^...} is not supported");
    while (ps->p < ps->end && *ps->p != '}' && k < 7) name[k++] = *ps->p++;
    name[k] = 0;
    if (ps->p >= ps->end || *ps->p != '}') return fail_at(ps, "unknown \\p{...} category");
    ps->p++;
    const uint32_t mask = uni_category_mask(name);
    if (!mask) return fail_at(ps, "unknown \\p{...} category (general categories only)");
    if (c == 'p') {
      s->categories |= mask;
      return 0;
    }
    return outside(ps, s, mask, 0);
  }
  case 'S': return outside(ps, s, 0, 1);
  case 'D': return outside(ps, s, 1u << UNI_Nd, 0);
  case 'W': return outside(ps, s, WORD_CATEGORIES, 0);
  default:
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      return fail_at(ps, "this escape is not supported");
    *cp = (uint32_t)(unsigned char)c;
    return 1;
  }
}

static node *set_node(parser *ps, int set) {
  node *n = new_node(ps, N_SET);
  if (n) n->set = set;
  return n;
}

/* [...] */
static node *parse_class(parser *ps) {
  const int si = new_set(ps);
  if (si < 0) return NULL;
  if (ps->p < ps->end && *ps->p == '^') {
    ps->sets[si].negated = 1;
    ps->p++;
  }
  int first = 1;
  while (ps->p < ps->end && (*ps->p != ']' || first)) {
    first = 0;
    uint32_t lo;
    if (*ps->p == '[') {
      fail_at(ps, "nested classes are not supported");
      return NULL;
    }
    if (*ps->p == '&' && ps->p + 1 < ps->end && ps->p[1] == '&') {
      fail_at(ps, "class intersection is not supported");
      return NULL;
    }
    if (*ps->p == '\\') {
      ps->p++;
      const int r = escape(ps, &ps->sets[si], &lo);
      if (r < 0) return NULL;
      if (r == 0) continue;
    } else if (read_cp(ps, &lo)) {
      return NULL;
    }
    uint32_t hi = lo;
    if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
      ps->p++;
      if (*ps->p == '\\') {
        ps->p++;
        if (escape(ps, &ps->sets[si], &hi) != 1) {
          fail_at(ps, "a class range must end in a character");
          return NULL;
        }
      } else if (read_cp(ps, &hi)) {
        return NULL;
      }
      if (hi < lo) {
        fail_at(ps, "a class range runs backwards");
        return NULL;
      }
    }
    if (add_folded(ps, &ps->sets[si], lo, hi)) return NULL;
  }
  if (ps->p >= ps->end) {
    fail_at(ps, "a class is not closed");
    return NULL;
  }
  ps->p++;
  return set_node(ps, si);
}

static node *parse_alt(parser *ps);

static node *parse_atom(parser *ps) {
  const char c = *ps->p;
  if (c == '(') {
    ps->p++;
    int fold = ps->fold;
    enum node_kind look = N_EMPTY;
    if (ps->p < ps->end && *ps->p == '?') {
      ps->p++;
      if (ps->p < ps->end && *ps->p == ':') {
        ps->p++;
      } else if (ps->p + 1 < ps->end && ps->p[0] == 'i' && ps->p[1] == ':') {
        ps->p += 2;
        ps->fold = 1;
      } else if (ps->p < ps->end && (*ps->p == '=' || *ps->p == '!')) {
        look = *ps->p == '=' ? N_AHEAD : N_NOT_AHEAD;
        ps->p++;
      } else {
        fail_at(ps, "this group kind (look-behind, named, or inline options other than (?i:)) is not supported");
        return NULL;
      }
    }
    node *inner = parse_alt(ps);
    ps->fold = fold;
    if (!inner) return NULL;
    if (ps->p >= ps->end || *ps->p != ')') {
      fail_at(ps, "a group is not closed");
      return NULL;
    }
    ps->p++;
    if (look == N_EMPTY) return inner;
    node *n = new_node(ps, look);
    if (n) n->a = inner;
    return n;
  }
  if (c == '[') {
    ps->p++;
    return parse_class(ps);
  }
  if (c == '^' || c == '$') {
    fail_at(ps, "anchors are not supported");
    return NULL;
  }
  const int si = new_set(ps);
  if (si < 0) return NULL;
  cset *s = &ps->sets[si];
  uint32_t cp;
  if (c == '.') {
    ps->p++;
    add_range(s, '\n', '\n');
    s->negated = 1;
    return set_node(ps, si);
  }
  if (c == '\\') {
    ps->p++;
    const int r = escape(ps, s, &cp);
    if (r < 0) return NULL;
    if (r == 0) return set_node(ps, si);
  } else if (read_cp(ps, &cp)) {
    return NULL;
  }
  if (add_folded(ps, s, cp, cp)) return NULL;
  return set_node(ps, si);
}

static int read_int(parser *ps, int *v) {
  int n = 0, digits = 0;
  while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && n < 100000) {
    n = n * 10 + (*ps->p++ - '0');
    digits++;
  }
  *v = n;
  return digits;
}

static node *parse_repeat(parser *ps) {
  node *atom = parse_atom(ps);
  if (!atom) return NULL;
  while (ps->p < ps->end && (*ps->p == '*' || *ps->p == '+' || *ps->p == '?' || *ps->p == '{')) {
    int min, max;
    const char q = *ps->p++;
    if (q == '*') min = 0, max = -1;
    else if (q == '+') min = 1, max = -1;
    else if (q == '?') min = 0, max = 1;
    else {
      if (!read_int(ps, &min)) {
        fail_at(ps, "a { that is not a count");
        return NULL;
      }
      max = min;
      if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        if (!read_int(ps, &max)) max = -1;
      }
      if (ps->p >= ps->end || *ps->p != '}' || (max >= 0 && max < min) || min > 1000 || max > 1000) {
        fail_at(ps, "a bad {n,m} count");
        return NULL;
      }
      ps->p++;
    }
    node *r = new_node(ps, N_REPEAT);
    if (!r) return NULL;
    r->a = atom, r->min = min, r->max = max;
    if (ps->p < ps->end && *ps->p == '?') {
      r->lazy = 1;
      ps->p++;
    } else if (ps->p < ps->end && *ps->p == '+') {
      fail_at(ps, "possessive quantifiers are not supported");
      return NULL;
    }
    atom = r;
  }
  return atom;
}

static node *parse_cat(parser *ps) {
  node *left = new_node(ps, N_EMPTY);
  while (left && ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
    node *right = parse_repeat(ps);
    if (!right) return NULL;
    if (left->kind == N_EMPTY) {
      left = right;
    } else {
      node *c = new_node(ps, N_CAT);
      if (!c) return NULL;
      c->a = left, c->b = right;
      left = c;
    }
  }
  return left;
}

static node *parse_alt(parser *ps) {
  node *left = parse_cat(ps);
  while (left && ps->p < ps->end && *ps->p == '|') {
    ps->p++;
    node *right = parse_cat(ps);
    if (!right) return NULL;
    node *a = new_node(ps, N_ALT);
    if (!a) return NULL;
    a->a = left, a->b = right;
    left = a;
  }
  return left;
}

static int nullable(const node *n) {
  switch (n->kind) {
  case N_EMPTY: case N_AHEAD: case N_NOT_AHEAD: return 1;
  case N_SET: return 0;
  case N_CAT: return nullable(n->a) && nullable(n->b);
  case N_ALT: return nullable(n->a) || nullable(n->b);
  case N_REPEAT: return n->min == 0 || nullable(n->a);
  }
  return 1;
}

/* ---- the program ---------------------------------------------------------- */

enum op { I_SET, I_SPLIT, I_JMP, I_MATCH, I_AHEAD, I_NOT_AHEAD };

typedef struct {
  enum op op;
  int x, y; /* SPLIT: try x, then y; JMP: x; SET: x = set; AHEAD: sub-program at x, continue at y */
} inst;

typedef struct {
  inst *code;
  int n, cap;
  cset *sets;
  int n_sets;
} program;

static int emit(program *pg, enum op op, int x, int y) {
  if (pg->n == pg->cap) {
    const int cap = pg->cap ? 2 * pg->cap : 64;
    inst *c = realloc(pg->code, (size_t)cap * sizeof *c);
    if (!c) return -1;
    pg->code = c, pg->cap = cap;
  }
  pg->code[pg->n].op = op;
  pg->code[pg->n].x = x;
  pg->code[pg->n].y = y;
  return pg->n++;
}

static int compile(program *pg, const node *n);

/* a{min,max}: min copies, then (max - min) optional ones or a loop. */
static int compile_repeat(program *pg, const node *n) {
  for (int k = 0; k < n->min; k++)
    if (compile(pg, n->a)) return -1;
  if (n->max < 0) {
    const int split = emit(pg, I_SPLIT, 0, 0);
    if (split < 0 || compile(pg, n->a) || emit(pg, I_JMP, split, 0) < 0) return -1;
    pg->code[split].x = n->lazy ? pg->n : split + 1;
    pg->code[split].y = n->lazy ? split + 1 : pg->n;
    return 0;
  }
  int splits[1000], k;
  for (k = 0; k < n->max - n->min; k++) {
    splits[k] = emit(pg, I_SPLIT, 0, 0);
    if (splits[k] < 0 || compile(pg, n->a)) return -1;
  }
  for (int j = 0; j < k; j++) {
    pg->code[splits[j]].x = n->lazy ? pg->n : splits[j] + 1;
    pg->code[splits[j]].y = n->lazy ? splits[j] + 1 : pg->n;
  }
  return 0;
}

static int compile(program *pg, const node *n) {
  switch (n->kind) {
  case N_EMPTY: return 0;
  case N_SET: return emit(pg, I_SET, n->set, 0) < 0 ? -1 : 0;
  case N_CAT: return compile(pg, n->a) || compile(pg, n->b) ? -1 : 0;
  case N_ALT: {
    const int split = emit(pg, I_SPLIT, 0, 0);
    if (split < 0 || compile(pg, n->a)) return -1;
    const int jmp = emit(pg, I_JMP, 0, 0);
    if (jmp < 0) return -1;
    pg->code[split].x = split + 1;
    pg->code[split].y = pg->n;
    if (compile(pg, n->b)) return -1;
    pg->code[jmp].x = pg->n;
    return 0;
  }
  case N_REPEAT: return compile_repeat(pg, n);
  case N_AHEAD:
  case N_NOT_AHEAD: {
    const int look = emit(pg, n->kind == N_AHEAD ? I_AHEAD : I_NOT_AHEAD, 0, 0);
    if (look < 0 || compile(pg, n->a) || emit(pg, I_MATCH, 0, 0) < 0) return -1;
    pg->code[look].x = look + 1;
    pg->code[look].y = pg->n;
    return 0;
  }
  }
  return -1;
}

/* ---- matching ------------------------------------------------------------- */

static int in_set(const cset *s, uint32_t cp) {
  int hit = 0;
  for (int k = 0; k < s->n_ranges && !hit; k++) hit = cp >= s->ranges[k][0] && cp <= s->ranges[k][1];
  if (!hit && (s->categories || s->n_outside)) {
    const int cat = uni_category(cp);
    hit = (s->categories >> cat) & 1u;
    for (int k = 0; k < s->n_outside && !hit; k++)
      hit = !((s->outside[k].categories >> cat) & 1u) && !(s->outside[k].space && uni_white_space(cp));
  }
  if (!hit && s->space) hit = uni_white_space(cp);
  return hit != s->negated;
}

typedef struct {
  int pc;
  size_t pos;
} thread;

typedef struct {
  const program *pg;
  const unsigned char *s;
  size_t n;
  thread *stack;
  size_t cap;
  long steps, max_steps;
  int too_long;
} matcher;

/* Runs the program from pc at pos; returns the end of the first match (the
 * backtracking order's first), or -1. */
static long run(matcher *m, int pc, size_t pos, size_t base) {
  size_t top = base;
  for (;;) {
    if (++m->steps > m->max_steps) {
      m->too_long = 1;
      return -1;
    }
    const inst *in = &m->pg->code[pc];
    int ok = 1;
    switch (in->op) {
    case I_MATCH: return (long)pos;
    case I_JMP: pc = in->x; continue;
    case I_SPLIT:
      if (top == m->cap) {
        const size_t cap = m->cap ? 2 * m->cap : 256;
        thread *t = realloc(m->stack, cap * sizeof *t);
        if (!t) {
          m->too_long = 1;
          return -1;
        }
        m->stack = t, m->cap = cap;
      }
      m->stack[top].pc = in->y;
      m->stack[top].pos = pos;
      top++;
      pc = in->x;
      continue;
    case I_SET: {
      size_t next = pos;
      const int32_t cp = pos < m->n ? uni_decode(m->s, m->n, &next) : -1;
      ok = cp >= 0 && in_set(&m->pg->sets[in->x], (uint32_t)cp);
      if (ok) {
        pos = next;
        pc++;
      }
      break;
    }
    case I_AHEAD:
    case I_NOT_AHEAD: {
      const long end = run(m, in->x, pos, top);
      if (m->too_long) return -1;
      ok = (end >= 0) == (in->op == I_AHEAD);
      if (ok) pc = in->y;
      break;
    }
    }
    if (ok) continue;
    if (top == base) return -1; /* no thread left to try */
    top--;
    pc = m->stack[top].pc;
    pos = m->stack[top].pos;
  }
}

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
  ps->p = ps->pattern = pattern;
  ps->end = pattern + len;
  node *root = parse_alt(ps);
  if (root && ps->p < ps->end) {
    fail_at(ps, "an unmatched )");
    root = NULL;
  }
  if (root) {
    for (int k = 0; k < ps->n_nodes && root; k++) {
      const node *n = &ps->nodes[k];
      if (n->kind == N_REPEAT && n->max < 0 && nullable(n->a)) {
        snprintf(ps->error, sizeof ps->error, "an unbounded repeat of something that can match nothing");
        root = NULL;
      }
    }
  }
  regex_ud *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  luaL_setmetatable(L, REGEX);
  r->pg.sets = ps->sets;
  r->pg.n_sets = ps->n_sets;
  if (root && (compile(&r->pg, root) || emit(&r->pg, I_MATCH, 0, 0) < 0))
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
      end = run(&m, 0, start, 0);
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
