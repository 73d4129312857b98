/*
 * GPTQ (kiln_native): the Hessian of a Linear's calibration inputs and the
 * column-by-column quantization with error feedback of Frantar et al., as
 * TICO's tico/quantization/algorithm/gptq/gptq.py runs it (dead columns,
 * dampening, H^-1's upper Cholesky factor, lazy block updates, act order),
 * with TICO's fake quantization (x * (1/s), round half to even, clamp) as
 * the quantizer, so the codes are the ones kiln's planner later finds.
 *
 * Determinism: everything is in double, OpenBLAS runs single-threaded
 * (luaopen_kiln_native), so a run gives the same codes every time. The
 * output is the codes alone (the values are (q - zp) * s from them): a
 * last-bit difference in OpenBLAS's double sums on another CPU kernel moves
 * a code only when a weight lies within ~1e-13 of a rounding boundary.
 */
#include <cblas.h>
#include <f77blas.h> /* dpotrf_, dpotri_: OpenBLAS's LAPACK (no lapacke.h on Debian's package) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define HESSIAN "kiln.Hessian"
/* rows converted to double per dsyrk call: the buffer is CHUNK x cols doubles */
#define CHUNK 512

typedef struct {
  int cols;
  lua_Integer rows; /* calibration rows accumulated */
  double *h;        /* [cols][cols], the upper triangle (row-major) holds sum x^T x */
} hessian;

/* native.hessian(cols) -> an empty Hessian of a Linear with cols inputs */
static int l_hessian(lua_State *L) {
  const lua_Integer cols = luaL_checkinteger(L, 1);
  luaL_argcheck(L, cols > 0 && cols <= 65536, 1, "cols out of range");
  hessian *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->cols = (int)cols;
  h->rows = 0;
  h->h = NULL;
  luaL_setmetatable(L, HESSIAN);
  h->h = calloc((size_t)cols * (size_t)cols, sizeof *h->h);
  if (!h->h) return luaL_error(L, "out of memory for a %d x %d Hessian", (int)cols, (int)cols);
  return 1;
}

static int hessian_gc(lua_State *L) {
  hessian *h = luaL_checkudata(L, 1, HESSIAN);
  free(h->h);
  h->h = NULL;
  return 0;
}

/* h:add(x): x [n][cols] (any dtype) adds x^T x; rows are taken CHUNK at a
 * time, always the same chunks for the same x, so the sums' order is fixed. */
static int hessian_add(lua_State *L) {
  hessian *h = luaL_checkudata(L, 1, HESSIAN);
  const tensor *x = tensor_check(L, 2);
  const size_t cols = (size_t)h->cols;
  luaL_argcheck(L, x->n % cols == 0, 2, "x is not [n][cols]");
  const size_t n = x->n / cols;
  double *buf = malloc(CHUNK * cols * sizeof *buf);
  float *row = malloc(cols * sizeof *row);
  if (!buf || !row) {
    free(buf);
    free(row);
    return luaL_error(L, "out of memory");
  }
  for (size_t r0 = 0; r0 < n; r0 += CHUNK) {
    const size_t k = n - r0 < CHUNK ? n - r0 : CHUNK;
    for (size_t r = 0; r < k; r++) {
      kiln_stored_to_f32(row, x->data, x->dtype, (r0 + r) * cols, cols);
      for (size_t c = 0; c < cols; c++) buf[r * cols + c] = row[c];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, h->cols, (int)k, 1.0, buf, h->cols, 1.0, h->h, h->cols);
  }
  h->rows += (lua_Integer)n;
  free(buf);
  free(row);
  return 0;
}

/* One problem: W [rows][cols] on per-row grids (scale, zp), H [cols][cols]. */
typedef struct {
  int rows, cols, block, act_order, qmin, qmax;
  double damp;
  const float *scale;
  const int *zp;
} problem;

/* TICO's fake quantization of one value: the code. */
static inline int fq_code(double w, float inv, int zp, int qmin, int qmax) {
  float qf = (float)zp + rintf((float)w * inv);
  qf = fminf(fmaxf(qf, (float)qmin), (float)qmax);
  return (int)qf;
}

/* A column and its H_jj, for act order's sort. */
typedef struct {
  double diag;
  int col;
} ranked;

/* Decreasing H_jj, ties in column order: the same permutation everywhere. */
static int by_diag_desc(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->diag != y->diag) return x->diag > y->diag ? -1 : 1;
  return (x->col > y->col) - (x->col < y->col);
}

/* The buffers of a solve, freed together. */
typedef struct {
  double *H;   /* [cols][cols]: H, then in its upper triangle U, H^-1 = U^T U */
  double *Wt;  /* [cols][rows]: W transposed (a column contiguous), permuted, updated */
  double *err; /* [block][rows]: the block's scaled errors */
  int16_t *qt; /* [cols][rows]: the codes, permuted */
  int *perm;   /* column j of the problem is column perm[j] of W */
  ranked *order;
  float *inv;  /* [rows]: 1 / scale, float32 as TICO's fake quantization takes it */
} work;

static void work_free(work *w) {
  free(w->H);
  free(w->Wt);
  free(w->err);
  free(w->qt);
  free(w->perm);
  free(w->order);
  free(w->inv);
}

/* H from the accumulated sums (2 x^T x / n, both triangles), dead columns
 * (H_jj = 0: the input is always 0) given H_jj = 1 and a zero W column, the
 * columns ordered (act order or as they are), W transposed into that order. */
static void prepare(const problem *p, const hessian *h, const float *w, work *wk) {
  const int n = p->cols, rows = p->rows;
  const double s = 2.0 / (double)h->rows;
  ranked *order = wk->order;
  for (int j = 0; j < n; j++) {
    const double d = h->h[(size_t)j * n + j] * s;
    order[j].diag = d == 0.0 ? 1.0 : d;
    order[j].col = j;
  }
  if (p->act_order) qsort(order, (size_t)n, sizeof *order, by_diag_desc);
  for (int a = 0; a < n; a++) wk->perm[a] = order[a].col;
  for (int a = 0; a < n; a++) {
    const int pa = wk->perm[a];
    for (int b = 0; b < n; b++) {
      const int pb = wk->perm[b];
      const int lo = pa < pb ? pa : pb, hi = pa < pb ? pb : pa;
      wk->H[(size_t)a * n + b] = a == b ? order[a].diag : h->h[(size_t)lo * n + hi] * s;
    }
    const int dead = h->h[(size_t)pa * n + pa] == 0.0;
    for (int r = 0; r < rows; r++) wk->Wt[(size_t)a * rows + r] = dead ? 0.0 : (double)w[(size_t)r * n + pa];
  }
}

/* H += damp * mean(diag) I; H^-1 = U^T U with U upper, in H's upper triangle
 * (row-major): LAPACK's column-major lower triangle is that same memory.
 * Returns 0, or LAPACK's info (the order of the minor that is not positive). */
static int inverse_factor(const problem *p, double *H) {
  const int n = p->cols;
  double mean = 0.0;
  for (int j = 0; j < n; j++) mean += H[(size_t)j * n + j];
  mean /= n;
  for (int j = 0; j < n; j++) H[(size_t)j * n + j] += p->damp * mean;
  char lower = 'L';
  blasint order = n, info = 0;
  dpotrf_(&lower, &order, H, &order, &info); /* H = L L^T */
  if (info != 0) return (int)info;
  dpotri_(&lower, &order, H, &order, &info); /* H^-1 from L */
  if (info != 0) return (int)info;
  dpotrf_(&lower, &order, H, &order, &info); /* H^-1 = L' L'^T, U = L'^T */
  for (int j = 0; j < n && info == 0; j++)
    if (!(H[(size_t)j * n + j] > 0.0 && isfinite(H[(size_t)j * n + j]))) info = j + 1;
  return (int)info;
}

/* Quantizes column i of the block starting at i1 and feeds its error to the
 * block's later columns (i2: the block's end). */
static void quantize_column(const problem *p, work *wk, int i1, int i, int i2) {
  const int n = p->cols, rows = p->rows;
  const double *U = wk->H;
  const double d = U[(size_t)i * n + i];
  double *wi = wk->Wt + (size_t)i * rows, *e = wk->err + (size_t)(i - i1) * rows;
  int16_t *q = wk->qt + (size_t)i * rows;
  for (int r = 0; r < rows; r++) {
    const int code = fq_code(wi[r], wk->inv[r], p->zp[r], p->qmin, p->qmax);
    q[r] = (int16_t)code;
    e[r] = (wi[r] - (double)((float)(code - p->zp[r]) * p->scale[r])) / d;
  }
  for (int j = i + 1; j < i2; j++) {
    const double u = U[(size_t)i * n + j];
    double *wj = wk->Wt + (size_t)j * rows;
    for (int r = 0; r < rows; r++) wj[r] -= e[r] * u;
  }
}

/* The column loop, in blocks: within a block each column's error goes to the
 * next columns at once; to the columns after the block in one product. */
static void solve(const problem *p, work *wk) {
  const int n = p->cols, rows = p->rows;
  for (int i1 = 0; i1 < n; i1 += p->block) {
    const int i2 = i1 + p->block < n ? i1 + p->block : n;
    for (int i = i1; i < i2; i++) quantize_column(p, wk, i1, i, i2);
    if (i2 < n)
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n - i2, rows, i2 - i1, -1.0, wk->H + (size_t)i1 * n + i2,
                  n, wk->err, rows, 1.0, wk->Wt + (size_t)i2 * rows, rows);
  }
}

/* The per-row grid of argument i (a number: one for every row). */
static void grid_arg(lua_State *L, int i, int rows, float *scale, int *zp) {
  if (!lua_istable(L, i)) {
    for (int r = 0; r < rows; r++) {
      scale[r] = (float)luaL_checknumber(L, i);
      zp[r] = (int)luaL_checkinteger(L, i + 1);
    }
    return;
  }
  luaL_argcheck(L, (int)lua_rawlen(L, i) == rows && (int)lua_rawlen(L, i + 1) == rows, i, "one scale and zero point per row");
  for (int r = 0; r < rows; r++) {
    lua_rawgeti(L, i, r + 1);
    lua_rawgeti(L, i + 1, r + 1);
    scale[r] = (float)luaL_checknumber(L, -2);
    zp[r] = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 2);
  }
}

/* The values and codes in W's order; a dead column is W's own, rounded to
 * nearest (TICO: Q[:, dead] = quantize(W[:, dead])). */
static void outputs(const problem *p, const hessian *h, const float *w, const work *wk, float *values, int16_t *codes) {
  const int n = p->cols, rows = p->rows;
  for (int a = 0; a < n; a++) {
    const int j = wk->perm[a];
    const int dead = h->h[(size_t)j * n + j] == 0.0;
    for (int r = 0; r < rows; r++) {
      const size_t at = (size_t)r * n + j;
      const int code = dead ? fq_code(w[at], wk->inv[r], p->zp[r], p->qmin, p->qmax) : wk->qt[(size_t)a * rows + r];
      codes[at] = (int16_t)code;
      values[at] = (float)(code - p->zp[r]) * p->scale[r];
    }
  }
}

/* native.gptq(h, w, scale, zero_point, qmin, qmax, { block =, damp =, act_order = })
 *   -> values (float32 Tensor [rows][cols], each (q - zp) * s), codes (string of
 *      int16 little-endian, [rows][cols]) | nil, message
 * w [rows][cols] in any dtype; scale and zero_point per row (arrays) or one
 * for all (numbers); qmin <= qmax within int16. */
static int l_gptq(lua_State *L) {
  const hessian *h = luaL_checkudata(L, 1, HESSIAN);
  const tensor *wt = tensor_check(L, 2);
  problem p = { 0 };
  p.cols = h->cols;
  luaL_argcheck(L, wt->n % (size_t)p.cols == 0 && wt->n / (size_t)p.cols <= 1u << 24, 2, "w is not [rows][cols]");
  p.rows = (int)(wt->n / (size_t)p.cols);
  p.qmin = (int)luaL_checkinteger(L, 5);
  p.qmax = (int)luaL_checkinteger(L, 6);
  luaL_argcheck(L, p.qmin >= -32768 && p.qmin <= p.qmax && p.qmax <= 32767, 5, "qmin/qmax outside int16");
  luaL_checktype(L, 7, LUA_TTABLE);
  p.block = int_field(L, 7, "block", 128);
  lua_getfield(L, 7, "damp");
  p.damp = luaL_optnumber(L, -1, 0.01);
  lua_getfield(L, 7, "act_order");
  p.act_order = lua_toboolean(L, -1);
  lua_pop(L, 2);
  luaL_argcheck(L, p.block >= 1 && p.damp >= 0.0 && p.damp == p.damp, 7, "block >= 1, damp >= 0");
  const char *refusal = h->rows == 0 ? "no calibration rows reached this Linear" : NULL;
  for (int j = 0; j < p.cols && !refusal; j++)
    if (!isfinite(h->h[(size_t)j * p.cols + j])) refusal = "its calibration inputs are not finite";
  if (refusal) {
    lua_pushnil(L);
    lua_pushstring(L, refusal);
    return 2;
  }
  const size_t rows = (size_t)p.rows, cols = (size_t)p.cols;
  /* Lua-owned, so that an argument error frees them */
  float *scale = lua_newuserdatauv(L, rows * sizeof *scale, 0);
  int *zp = lua_newuserdatauv(L, rows * sizeof *zp, 0);
  grid_arg(L, 3, p.rows, scale, zp);
  p.scale = scale;
  p.zp = zp;
  tensor *values = tensor_new(L, rows * cols);
  const size_t block = (size_t)(p.block < p.cols ? p.block : p.cols);
  float *w = malloc(rows * cols * sizeof *w);
  int16_t *codes = malloc(rows * cols * sizeof *codes);
  work wk = { malloc(cols * cols * sizeof(double)), malloc(cols * rows * sizeof(double)),
              malloc(block * rows * sizeof(double)), malloc(cols * rows * sizeof(int16_t)), malloc(cols * sizeof(int)),
              malloc(cols * sizeof(ranked)), malloc(rows * sizeof(float)) };
  if (!w || !codes || !wk.H || !wk.Wt || !wk.err || !wk.qt || !wk.perm || !wk.order || !wk.inv) {
    free(w);
    free(codes);
    work_free(&wk);
    return luaL_error(L, "out of memory for GPTQ of a %d x %d weight", p.rows, p.cols);
  }
  for (size_t r = 0; r < rows; r++) wk.inv[r] = 1.0f / scale[r];
  kiln_stored_to_f32(w, wt->data, wt->dtype, 0, rows * cols);
  prepare(&p, h, w, &wk);
  const int info = inverse_factor(&p, wk.H);
  if (info == 0) {
    solve(&p, &wk);
    outputs(&p, h, w, &wk, values->data, codes);
  }
  free(w);
  work_free(&wk);
  if (info != 0) {
    free(codes);
    lua_pushnil(L);
    lua_pushfstring(L, "the Hessian is not positive definite (LAPACK info %d) with dampening %f; raise --damp",
                    info, p.damp);
    return 2;
  }
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, rows * cols * 2);
  for (size_t i = 0; i < rows * cols; i++) {
    const uint16_t c = (uint16_t)codes[i];
    out[2 * i] = (unsigned char)(c & 0xFF);
    out[2 * i + 1] = (unsigned char)(c >> 8);
  }
  free(codes);
  luaL_pushresultsize(&b, rows * cols * 2);
  return 2;
}

/* The per-row grids of arguments 2 and 3 for the rows of t [rows][cols]
 * (numbers: one grid for every row), in buffers that live on the stack. */
static size_t row_grids(lua_State *L, const tensor *t, float **scale, int **zp) {
  const size_t rows = lua_istable(L, 2) ? (size_t)lua_rawlen(L, 2) : 1;
  luaL_argcheck(L, rows > 0 && t->n % rows == 0, 2, "one scale and zero point per row");
  *scale = lua_newuserdatauv(L, rows * sizeof **scale, 0);
  *zp = lua_newuserdatauv(L, rows * sizeof **zp, 0);
  grid_arg(L, 2, (int)rows, *scale, *zp);
  return rows;
}

/* native.grid_offset(w, scale, zero_point, qmin, qmax) -> the largest distance,
 * in steps of its row's grid, of a value of w (any dtype, [rows][cols]) from
 * the nearest point of that grid (codes clamped to [qmin, qmax]): 0 for
 * weights GPTQ put on the grid, up to float rounding; up to 0.5 for others. */
static int l_grid_offset(lua_State *L) {
  const tensor *t = tensor_check(L, 1);
  const int qmin = (int)luaL_checkinteger(L, 4), qmax = (int)luaL_checkinteger(L, 5);
  float *scale;
  int *zp;
  const size_t rows = row_grids(L, t, &scale, &zp);
  const size_t cols = t->n / rows;
  double worst = 0.0;
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) {
      const double v = (double)kiln_stored(t->data, t->dtype, r * cols + c) / (double)scale[r];
      double q = nearbyint(v) + zp[r];
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      const double off = fabs(v - (q - zp[r]));
      if (!(off <= worst)) worst = off; /* NaN counts as off the grid */
    }
  lua_pushnumber(L, worst);
  return 1;
}

/* native.row_error(w, scale, zero_point, qmin, qmax, norm) -> { per row:
 * sum |FQ(w) - w|^norm } on the given per-row grids (TICO's fake
 * quantization), the figure GPTQ's MSE grid search compares */
static int l_row_error(lua_State *L) {
  const tensor *t = tensor_check(L, 1);
  const int qmin = (int)luaL_checkinteger(L, 4), qmax = (int)luaL_checkinteger(L, 5);
  const double norm = luaL_checknumber(L, 6);
  float *scale;
  int *zp;
  const size_t rows = row_grids(L, t, &scale, &zp);
  const size_t cols = t->n / rows;
  lua_createtable(L, (int)rows, 0);
  for (size_t r = 0; r < rows; r++) {
    const float inv = 1.0f / scale[r];
    double err = 0.0;
    for (size_t c = 0; c < cols; c++) {
      const float w = kiln_stored(t->data, t->dtype, r * cols + c);
      const float v = (float)(fq_code(w, inv, zp[r], qmin, qmax) - zp[r]) * scale[r];
      err += pow(fabs((double)v - (double)w), norm);
    }
    lua_pushnumber(L, err);
    lua_rawseti(L, -2, (lua_Integer)r + 1);
  }
  return 1;
}

const luaL_Reg gptq_functions[] = {
    { "hessian", l_hessian },
    { "gptq", l_gptq },
    { "grid_offset", l_grid_offset },
    { "row_error", l_row_error },
    { NULL, NULL },
};

void gptq_register(lua_State *L) {
  static const luaL_Reg methods[] = {
      { "add", hessian_add },
      { NULL, NULL },
  };
  luaL_newmetatable(L, HESSIAN);
  lua_pushcfunction(L, hessian_gc);
  lua_setfield(L, -2, "__gc");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_setfuncs(L, gptq_functions, 0);
}
