/*
 * The syntax tree of a regular expression (regex.c) into a backtracking
 * program: alternatives and repeats become SPLITs whose first branch is the
 * one tried first.
 */
#include "regex_internal.h"

#include <stdlib.h>

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

int regex_compile(program *pg, const node *root) {
  return compile(pg, root) || emit(pg, I_MATCH, 0, 0) < 0 ? -1 : 0;
}
