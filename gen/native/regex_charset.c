/*
 * The code points of a regular expression's pattern (regex.c): literal
 * characters, escapes, and the sets of code points they and the classes
 * stand for (ranges, case folding under (?i:), categories, complements).
 */
#include "regex_internal.h"

#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int regex_fail_at(parser *ps, const char *what) {
  snprintf(ps->error, sizeof ps->error, "%s at offset %d", what, (int)(ps->p - ps->pattern));
  return -1;
}

int regex_add_range(cset *s, uint32_t lo, uint32_t hi) {
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
int regex_add_folded(parser *ps, cset *s, uint32_t lo, uint32_t hi) {
  if (regex_add_range(s, lo, hi)) return -1;
  if (!ps->fold) return 0;
  for (uint32_t c = lo; c <= hi && c < 0x80; c++) {
    if (c >= 'a' && c <= 'z' && regex_add_range(s, c - 32, c - 32)) return -1;
    if (c >= 'A' && c <= 'Z' && regex_add_range(s, c + 32, c + 32)) return -1;
  }
  if (hi >= 0x80) {
    for (uint32_t c = lo < 0x80 ? 0x80 : lo; c <= hi; c++)
      if (uni_category(c) == UNI_Lu || uni_category(c) == UNI_Ll || uni_category(c) == UNI_Lt)
        return regex_fail_at(ps, "(?i:) of a non-ASCII letter is not supported");
  }
  return 0;
}

int regex_new_set(parser *ps) {
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
int regex_read_cp(parser *ps, uint32_t *cp) {
  size_t i = 0;
  const int32_t c = uni_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &i);
  if (c < 0) return regex_fail_at(ps, "invalid UTF-8");
  ps->p += i;
  *cp = (uint32_t)c;
  return 0;
}

static int read_hex(parser *ps, int digits, uint32_t *cp) {
  uint32_t v = 0;
  for (int k = 0; k < digits; k++) {
    const int h = ps->p < ps->end ? hex_value(*ps->p) : -1;
    if (h < 0) return regex_fail_at(ps, "bad hexadecimal escape");
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
  if (s->n_outside == MAX_COMPLEMENTS) return regex_fail_at(ps, "too many negated classes in one class");
  s->outside[s->n_outside].categories = categories;
  s->outside[s->n_outside].space = space;
  s->n_outside++;
  return 0;
}

/* An escape after '\': either one code point (*cp, returns 1) or a class
 * added to s (returns 0); -1 on error. */
int regex_escape(parser *ps, cset *s, uint32_t *cp) {
  if (ps->p >= ps->end) return regex_fail_at(ps, "a pattern ends with a backslash");
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
        if (h < 0 || ++digits > 6) return regex_fail_at(ps, "bad \\x{...} escape");
        v = v * 16 + (uint32_t)h;
      }
      if (ps->p >= ps->end || digits == 0 || v > 0x10FFFF) return regex_fail_at(ps, "bad \\x{...} escape");
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
    if (ps->p >= ps->end || *ps->p != '{') return regex_fail_at(ps, "\\p needs {Category}");
    ps->p++;
    if (ps->p < ps->end && *ps->p == '^') return regex_fail_at(ps, "\\p{^...} is not supported");
    while (ps->p < ps->end && *ps->p != '}' && k < 7) name[k++] = *ps->p++;
    name[k] = 0;
    if (ps->p >= ps->end || *ps->p != '}') return regex_fail_at(ps, "unknown \\p{...} category");
    ps->p++;
    const uint32_t mask = uni_category_mask(name);
    if (!mask) return regex_fail_at(ps, "unknown \\p{...} category (general categories only)");
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
      return regex_fail_at(ps, "this escape is not supported");
    *cp = (uint32_t)(unsigned char)c;
    return 1;
  }
}
