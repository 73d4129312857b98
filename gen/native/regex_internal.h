/*
 * The parts of the regular expressions (regex.c) that regex_parse.c,
 * regex_compile.c and regex_match.c hand each other: the syntax tree and its
 * code-point sets, the backtracking program, and the matcher's state.
 */
#ifndef KILN_REGEX_INTERNAL_H
#define KILN_REGEX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define MAX_NODES 4096

/* ---- the syntax tree (regex_parse.c) -------------------------------------- */

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

/* Parses pattern[0, len) into ps, which owns the nodes and the sets; the
 * root of the tree, or NULL with ps->error saying what and where. */
const node *regex_parse(parser *ps, const char *pattern, size_t len);

/* ---- code points and their sets (regex_charset.c) ------------------------- */

/* Each returns -1 on an error, which regex_fail_at writes into ps->error
 * with the offset it is at. */
int regex_fail_at(parser *ps, const char *what);
/* A new empty set of ps, by index (sets move as they grow). */
int regex_new_set(parser *ps);
int regex_add_range(cset *s, uint32_t lo, uint32_t hi);
/* Adds [lo, hi], and under (?i:) the other case of its ASCII letters. */
int regex_add_folded(parser *ps, cset *s, uint32_t lo, uint32_t hi);
/* Reads one code point of the pattern (UTF-8). */
int regex_read_cp(parser *ps, uint32_t *cp);
/* An escape after '\': either one code point (*cp, returns 1) or a class
 * added to s (returns 0). */
int regex_escape(parser *ps, cset *s, uint32_t *cp);

/* ---- the program (regex_compile.c) ---------------------------------------- */

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

/* Appends the code of the tree at root, then the final MATCH; -1 when out of memory. */
int regex_compile(program *pg, const node *root);

/* ---- matching (regex_match.c) --------------------------------------------- */

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
long regex_run(matcher *m, int pc, size_t pos, size_t base);

#endif
