/*
 * Calls every function of a generated model's API (kiln_model.h) with the
 * out-of-range arguments of issue 15 and asserts each returns KILN_E_RANGE
 * with nothing written: outputs sit in canary-filled heap buffers of
 * exactly the size the header gives, so a write past them is an
 * AddressSanitizer error and a write inside them a changed canary. Good calls
 * at the edges of the static shapes must return KILN_OK. Built with
 * -DKILN_UNCHECKED, only the calls that stay checked (kiln_prefill,
 * kiln_prefill_rows, kiln_decode) and the good calls run.
 *
 * tests/e2e/runtime_api_spec.lua builds it against a generated model under
 * -fsanitize=address,undefined; it exits 1 on the first failed check.
 */
#include "kiln_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANARY ((int16_t)0x5A5A)

static int checks;

#define EXPECT(cond)                                                            \
  do {                                                                          \
    checks++;                                                                   \
    if (!(cond)) {                                                              \
      fprintf(stderr, "api_driver.c:%d: expected %s\n", __LINE__, #cond);       \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

/* A heap buffer of exactly n words (ASan puts a red zone right after it). */
static int16_t *words(size_t n) {
  int16_t *p = malloc(n * sizeof *p);
  if (!p) {
    fprintf(stderr, "api_driver: out of memory\n");
    exit(1);
  }
  return p;
}

static void paint(int16_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = CANARY;
}

/* Words [from, n) of p still hold the canary. */
static int untouched(const int16_t *p, size_t from, size_t n) {
  for (size_t i = from; i < n; i++)
    if (p[i] != CANARY) return 0;
  return 1;
}

/* Small deterministic codes, inside every activation grid. */
static void fill(int16_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (int16_t)(i * 7 % 61);
}

#define ROW ((size_t)KILN_HIDDEN)
#define KV_ROW ((size_t)KILN_KV_HEADS * KILN_HEAD_DIM)
#define CACHE_WORDS ((size_t)KILN_KV_HEADS * KILN_MAX_SEQ * KILN_HEAD_DIM)

/* One adapter's buffers, sized for its static block of `block` rows. */
typedef struct {
  size_t block;
  int16_t *x, *y, *new_k, *new_v, *scratch;
} buffers;

static buffers buffers_for(size_t block) {
  buffers b = { block, words(block * ROW), words(block * ROW), words(block * KV_ROW), words(block * KV_ROW),
                words(KILN_SCRATCH_WORDS) };
  fill(b.x, block * ROW);
  return b;
}

static void paint_outputs(const buffers *b) {
  paint(b->y, b->block * ROW);
  paint(b->new_k, b->block * KV_ROW);
  paint(b->new_v, b->block * KV_ROW);
  paint(b->scratch, KILN_SCRATCH_WORDS);
}

#ifndef KILN_UNCHECKED
/* Nothing written at all (a refused call). */
static int nothing_written(const buffers *b) {
  return untouched(b->y, 0, b->block * ROW) && untouched(b->new_k, 0, b->block * KV_ROW) &&
         untouched(b->new_v, 0, b->block * KV_ROW) && untouched(b->scratch, 0, KILN_SCRATCH_WORDS);
}
#endif

/* A good call of `rows` rows wrote its outputs and nothing of y past them
 * (new_k and new_v are [heads][rows][d]: their first heads * rows * d words). */
static int wrote_rows(const buffers *b, size_t rows) {
  return !untouched(b->y, 0, rows * ROW) && untouched(b->y, rows * ROW, b->block * ROW) &&
         !untouched(b->new_k, 0, rows * KV_ROW) && untouched(b->new_k, rows * KV_ROW, b->block * KV_ROW) &&
         !untouched(b->new_v, 0, rows * KV_ROW) && untouched(b->new_v, rows * KV_ROW, b->block * KV_ROW);
}

static void rope(int32_t layer, int32_t pos, int32_t rows, const int16_t **cos, const int16_t **sin) {
  EXPECT(kiln_rope_rows(layer, pos, rows, cos, sin) == KILN_OK);
}

static void rope_rows(void) {
  static const int16_t marker[1] = { 0 };
  const int16_t *cos = marker, *sin = marker;
#ifndef KILN_UNCHECKED
  const int32_t bad[][3] = {
    { 0, KILN_MAX_SEQ, 1 },     /* past the table */
    { 0, KILN_MAX_SEQ - 1, 2 }, /* its last row and one past */
    { 0, 0, KILN_MAX_SEQ + 1 },
    { 0, -1, 1 },
    { 0, 0, 0 },
    { 0, 0, -1 },
    { -1, 0, 1 },
    { KILN_LAYERS, 0, 1 },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    EXPECT(kiln_rope_rows(bad[i][0], bad[i][1], bad[i][2], &cos, &sin) == KILN_E_RANGE);
    EXPECT(cos == marker && sin == marker);
  }
#endif
  /* the edges: every row of the last layer's table, read back to its end */
  volatile int16_t sink;
  rope(KILN_LAYERS - 1, 0, KILN_MAX_SEQ, &cos, &sin);
  sink = cos[(size_t)KILN_MAX_SEQ * KILN_HEAD_DIM - 1];
  sink = sin[(size_t)KILN_MAX_SEQ * KILN_HEAD_DIM - 1];
  rope(0, KILN_MAX_SEQ - 1, 1, &cos, &sin);
  sink = cos[KILN_HEAD_DIM - 1];
  (void)sink;
}

static void adapters(void) {
  buffers pre = buffers_for(KILN_PREFILL_LEN), app = buffers_for(KILN_APPEND_LEN), dec = buffers_for(1);
  int16_t *cache_k = words(CACHE_WORDS), *cache_v = words(CACHE_WORDS);
  fill(cache_k, CACHE_WORDS);
  fill(cache_v, CACHE_WORDS);
  const int16_t *cos, *sin;
  for (int32_t l = 0; l < KILN_LAYERS; l++) {
    rope(l, 0, 1, &cos, &sin); /* rows enough for the refused calls: they read none */
#ifndef KILN_UNCHECKED
    const int32_t bad_prefill[] = { KILN_PREFILL_LEN + 1, 0, -1 };
    for (size_t i = 0; i < sizeof bad_prefill / sizeof bad_prefill[0]; i++) {
      paint_outputs(&pre);
      EXPECT(kiln_prefill_adapters[l](pre.x, bad_prefill[i], cos, sin, pre.y, pre.new_k, pre.new_v, pre.scratch) ==
             KILN_E_RANGE);
      EXPECT(nothing_written(&pre));
    }
    const int32_t bad_past[] = { -1, KILN_MAX_SEQ, KILN_MAX_SEQ + 1 };
    for (size_t i = 0; i < sizeof bad_past / sizeof bad_past[0]; i++) {
      paint_outputs(&dec);
      EXPECT(kiln_decode_adapters[l](dec.x, cos, sin, cache_k, cache_v, bad_past[i], dec.y, dec.new_k, dec.new_v,
                                     dec.scratch) == KILN_E_RANGE);
      EXPECT(nothing_written(&dec));
    }
    /* append: rows past the block or below one, a negative past, a past that leaves too little room */
    const int32_t bad_append[][2] = {
      { KILN_APPEND_LEN + 1, 1 }, { 0, 1 }, { -1, 1 }, { 1, -1 }, { 1, KILN_MAX_SEQ },
      { KILN_APPEND_LEN, KILN_MAX_SEQ - KILN_APPEND_LEN + 1 },
    };
    for (size_t i = 0; i < sizeof bad_append / sizeof bad_append[0]; i++) {
      paint_outputs(&app);
      EXPECT(kiln_append_adapters[l](app.x, bad_append[i][0], cos, sin, cache_k, cache_v, bad_append[i][1], app.y,
                                     app.new_k, app.new_v, app.scratch) == KILN_E_RANGE);
      EXPECT(nothing_written(&app));
    }
#endif
    /* good calls at the edges: a full block and one row; the last cache slots */
    const int32_t prefill_rows[] = { KILN_PREFILL_LEN, 1 };
    for (size_t i = 0; i < 2; i++) {
      rope(l, 0, prefill_rows[i], &cos, &sin);
      paint_outputs(&pre);
      EXPECT(kiln_prefill_adapters[l](pre.x, prefill_rows[i], cos, sin, pre.y, pre.new_k, pre.new_v, pre.scratch) ==
             KILN_OK);
      EXPECT(wrote_rows(&pre, (size_t)prefill_rows[i]));
    }
    const int32_t decode_past[] = { KILN_MAX_SEQ - 1, 0 };
    for (size_t i = 0; i < 2; i++) {
      rope(l, decode_past[i], 1, &cos, &sin);
      paint_outputs(&dec);
      EXPECT(kiln_decode_adapters[l](dec.x, cos, sin, cache_k, cache_v, decode_past[i], dec.y, dec.new_k, dec.new_v,
                                     dec.scratch) == KILN_OK);
      EXPECT(wrote_rows(&dec, 1));
    }
    const int32_t good_append[][2] = { { KILN_APPEND_LEN, KILN_MAX_SEQ - KILN_APPEND_LEN }, { 1, KILN_MAX_SEQ - 1 } };
    for (size_t i = 0; i < 2; i++) {
      rope(l, good_append[i][1], good_append[i][0], &cos, &sin);
      paint_outputs(&app);
      EXPECT(kiln_append_adapters[l](app.x, good_append[i][0], cos, sin, cache_k, cache_v, good_append[i][1], app.y,
                                     app.new_k, app.new_v, app.scratch) == KILN_OK);
      EXPECT(wrote_rows(&app, (size_t)good_append[i][0]));
    }
  }
  buffers all[] = { pre, app, dec };
  for (size_t i = 0; i < 3; i++) {
    free(all[i].x);
    free(all[i].y);
    free(all[i].new_k);
    free(all[i].new_v);
    free(all[i].scratch);
  }
  free(cache_k);
  free(cache_v);
}

/* The model's state as the caller sees it: position, logits and hidden row. */
typedef struct {
  int32_t pos;
  int16_t logits[KILN_VOCAB], hidden[KILN_HIDDEN];
} snapshot;

static snapshot observe(void) {
  snapshot s;
  s.pos = kiln_position();
  memcpy(s.logits, kiln_logits(), sizeof s.logits);
  memcpy(s.hidden, kiln_hidden(), sizeof s.hidden);
  return s;
}

static int same_state(const snapshot *a) {
  const snapshot b = observe();
  return a->pos == b.pos && memcmp(a->logits, b.logits, sizeof b.logits) == 0 &&
         memcmp(a->hidden, b.hidden, sizeof b.hidden) == 0;
}

static void model(void) {
  const size_t n = KILN_MAX_SEQ;
  int32_t *tokens = malloc(n * sizeof *tokens), *longer = malloc((n + 1) * sizeof *longer);
  int16_t *rows = words(n * KILN_VOCAB);
  if (!tokens || !longer) exit(1);
  for (size_t i = 0; i <= n; i++) longer[i] = (int32_t)(i * 5 % KILN_VOCAB);
  memcpy(tokens, longer, n * sizeof *tokens);

  /* one token run, so the refused calls below have a state to keep */
  kiln_reset();
  EXPECT(kiln_prefill(tokens, 1) >= 0);
  snapshot before = observe();
  EXPECT(before.pos == 1);
  EXPECT(kiln_prefill(longer, KILN_MAX_SEQ + 1) == KILN_E_RANGE); /* too long even from position 0 */
  EXPECT(kiln_prefill(tokens, KILN_MAX_SEQ) == KILN_E_RANGE);     /* one too many after the first */
  EXPECT(kiln_prefill(tokens, 0) == KILN_E_RANGE);
  EXPECT(kiln_prefill(tokens, -1) == KILN_E_RANGE);
  EXPECT(kiln_decode(KILN_VOCAB) == KILN_E_RANGE);
  EXPECT(kiln_decode(-1) == KILN_E_RANGE);
  EXPECT(same_state(&before));

  /* a bad token anywhere refuses the whole prompt, before any block runs */
  const int32_t bad_tokens[] = { KILN_VOCAB, -1, INT32_MIN };
  for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
    tokens[n - 2] = bad_tokens[i];
    paint(rows, n * KILN_VOCAB);
    EXPECT(kiln_prefill_rows(tokens, KILN_MAX_SEQ - 1, rows) == KILN_E_RANGE);
    EXPECT(untouched(rows, 0, n * KILN_VOCAB));
    EXPECT(kiln_prefill(tokens, KILN_MAX_SEQ - 1) == KILN_E_RANGE);
    EXPECT(same_state(&before));
  }
  tokens[n - 2] = longer[n - 2];

  /* the longest prompt: the prefill block, then append blocks to the end */
  kiln_reset();
  paint(rows, n * KILN_VOCAB);
  EXPECT(kiln_prefill_rows(tokens, KILN_MAX_SEQ, rows) >= 0);
  EXPECT(kiln_position() == KILN_MAX_SEQ);
  EXPECT(memcmp(rows + (n - 1) * KILN_VOCAB, kiln_logits(), KILN_VOCAB * sizeof *rows) == 0);
  before = observe();
  EXPECT(kiln_decode(0) == KILN_E_RANGE); /* the cache is full */
  EXPECT(kiln_prefill(tokens, 1) == KILN_E_RANGE);
  EXPECT(same_state(&before));

  /* and the first token through the decode path after a reset */
  kiln_reset();
  EXPECT(kiln_decode(tokens[0]) >= 0);
  EXPECT(kiln_position() == 1);
  free(tokens);
  free(longer);
  free(rows);
}

int main(void) {
  rope_rows();
  adapters();
  model();
  printf("api_driver: %d checks passed\n", checks);
  return 0;
}
