/*
 * Matching a regular expression's program (regex.c) by backtracking, one
 * UTF-8 code point at a time, within a bound on the steps.
 */
#include "regex_internal.h"

#include "unicode.h"

#include <stdlib.h>

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

/* Runs the program from pc at pos; returns the end of the first match (the
 * backtracking order's first), or -1. */
long regex_run(matcher *m, int pc, size_t pos, size_t base) {
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
      const long end = regex_run(m, in->x, pos, top);
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
