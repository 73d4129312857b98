/*
 * The pattern of a regular expression (regex.c) into its syntax tree.
 *
 * Syntax: literals (UTF-8), . (not \n), [...] and [^...] with ranges and
 * the escapes below, escapes \s \S \d \D \w \W \p{X} \P{X} (X a general
 * category, one letter for the union) \r \n \t \f \v \e \0 \xHH \x{H..}
 * \uHHHH and escaped punctuation, groups (...) (?:...) (?i:...), look-ahead
 * (?=...) (?!...), alternation |, quantifiers ? * + {n} {n,} {n,m} and their
 * lazy forms. Anything else (anchors, back references, look-behind,
 * possessive quantifiers, inline options other than (?i:)) is refused here,
 * with what and where.
 */
#include "regex_internal.h"

#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static node *set_node(parser *ps, int set) {
  node *n = new_node(ps, N_SET);
  if (n) n->set = set;
  return n;
}

/* [...] */
static node *parse_class(parser *ps) {
  const int si = regex_new_set(ps);
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
      regex_fail_at(ps, "nested classes are not supported");
      return NULL;
    }
    if (*ps->p == '&' && ps->p + 1 < ps->end && ps->p[1] == '&') {
      regex_fail_at(ps, "class intersection is not supported");
      return NULL;
    }
    if (*ps->p == '\\') {
      ps->p++;
      const int r = regex_escape(ps, &ps->sets[si], &lo);
      if (r < 0) return NULL;
      if (r == 0) continue;
    } else if (regex_read_cp(ps, &lo)) {
      return NULL;
    }
    uint32_t hi = lo;
    if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
      ps->p++;
      if (*ps->p == '\\') {
        ps->p++;
        if (regex_escape(ps, &ps->sets[si], &hi) != 1) {
          regex_fail_at(ps, "a class range must end in a character");
          return NULL;
        }
      } else if (regex_read_cp(ps, &hi)) {
        return NULL;
      }
      if (hi < lo) {
        regex_fail_at(ps, "a class range runs backwards");
        return NULL;
      }
    }
    if (regex_add_folded(ps, &ps->sets[si], lo, hi)) return NULL;
  }
  if (ps->p >= ps->end) {
    regex_fail_at(ps, "a class is not closed");
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
        regex_fail_at(ps, "this group kind (look-behind, named, or inline options other than (?i:)) is not supported");
        return NULL;
      }
    }
    node *inner = parse_alt(ps);
    ps->fold = fold;
    if (!inner) return NULL;
    if (ps->p >= ps->end || *ps->p != ')') {
      regex_fail_at(ps, "a group is not closed");
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
    regex_fail_at(ps, "anchors are not supported");
    return NULL;
  }
  const int si = regex_new_set(ps);
  if (si < 0) return NULL;
  cset *s = &ps->sets[si];
  uint32_t cp;
  if (c == '.') {
    ps->p++;
    regex_add_range(s, '\n', '\n');
    s->negated = 1;
    return set_node(ps, si);
  }
  if (c == '\\') {
    ps->p++;
    const int r = regex_escape(ps, s, &cp);
    if (r < 0) return NULL;
    if (r == 0) return set_node(ps, si);
  } else if (regex_read_cp(ps, &cp)) {
    return NULL;
  }
  if (regex_add_folded(ps, s, cp, cp)) return NULL;
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
        regex_fail_at(ps, "a { that is not a count");
        return NULL;
      }
      max = min;
      if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        if (!read_int(ps, &max)) max = -1;
      }
      if (ps->p >= ps->end || *ps->p != '}' || (max >= 0 && max < min) || min > 1000 || max > 1000) {
        regex_fail_at(ps, "a bad {n,m} count");
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
      regex_fail_at(ps, "possessive quantifiers are not supported");
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

const node *regex_parse(parser *ps, const char *pattern, size_t len) {
  ps->p = ps->pattern = pattern;
  ps->end = pattern + len;
  node *root = parse_alt(ps);
  if (root && ps->p < ps->end) {
    regex_fail_at(ps, "an unmatched )");
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
  return root;
}
