/*
 * Measuring (kiln_native): integer codes back to values, and how far codes,
 * tensors and logits are from their references.
 */
#include <math.h>
#include <stdlib.h>

#include "../../runtime/float/kiln_math.h"
#include "native.h"

static const int16_t *check_codes(lua_State *L, int i, size_t *n) {
  size_t len;
  const char *p = luaL_checklstring(L, i, &len);
  luaL_argcheck(L, len % 2 == 0, i, "not a string of int16 codes");
  *n = len / 2;
  return (const int16_t *)(const void *)p;
}

/* native.dequantize(codes, scale, zero_point) -> Tensor (code - zp) * scale */
static int l_dequantize(lua_State *L) {
  size_t n;
  const int16_t *q = check_codes(L, 1, &n);
  float scale = (float)luaL_checknumber(L, 2);
  int zp = (int)luaL_checkinteger(L, 3);
  tensor *t = tensor_new(L, n);
  float *y = t->data;
  for (size_t i = 0; i < n; i++) y[i] = (float)(q[i] - zp) * scale;
  return 1;
}

/* native.code_diff(a, b) -> fraction of |a - b| <= 1, max |a - b|, count, fraction equal
 * (int16 code strings) */
static int l_code_diff(lua_State *L) {
  size_t n, m;
  const int16_t *a = check_codes(L, 1, &n), *b = check_codes(L, 2, &m);
  luaL_argcheck(L, n == m && n > 0, 2, "code strings differ in length");
  size_t within = 0, equal = 0;
  int worst = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    if (d <= 1) within++;
    if (d == 0) equal++;
    if (d > worst) worst = d;
  }
  lua_pushnumber(L, (double)within / (double)n);
  lua_pushinteger(L, worst);
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushnumber(L, (double)equal / (double)n);
  return 4;
}

/* native.diff_stats(ref, q) -> mean |ref - q|, max |ref - q|, min(ref), max(ref) */
static int l_diff_stats(lua_State *L) {
  const float *x = tensor_f32(L, 1), *y = tensor_f32(L, 2);
  const size_t n = tensor_check(L, 1)->n;
  luaL_argcheck(L, n == tensor_check(L, 2)->n && n > 0, 2, "tensors differ in length");
  double sum = 0.0, worst = 0.0;
  float lo = x[0], hi = x[0];
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - (double)y[i]);
    sum += d;
    if (d > worst) worst = d;
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  lua_pushnumber(L, sum / (double)n);
  lua_pushnumber(L, worst);
  lua_pushnumber(L, lo);
  lua_pushnumber(L, hi);
  return 4;
}

static void log_softmax(double *out, const double *x, int n) {
  double mx = x[0], sum = 0.0;
  for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
  for (int i = 0; i < n; i++) sum += kiln_exp(x[i] - mx);
  double lse = mx + kiln_log(sum);
  for (int i = 0; i < n; i++) out[i] = x[i] - lse;
}

/* native.logit_metrics(float_logits [n][V], codes [n][V], scale, zero_point, targets)
 * -> sum of NLL of targets[i] under the quantized logits, the same under the
 *    float logits, sum of KL(float || quantized), top-1 agreements, n.
 * codes: int16 codes on the grid (scale, zero_point), or a float Tensor of the
 * quantized side's logits themselves (the fake-quant model's; scale and
 * zero_point are then ignored).
 * targets: Lua array of n token ids (0-based); entries may be nil past the end. */
static int l_logit_metrics(lua_State *L) {
  tensor *f = tensor_check(L, 1);
  const float *fl = tensor_f32(L, 1);
  size_t nq;
  const int16_t *q = NULL;
  const float *qf = NULL;
  if (lua_type(L, 2) == LUA_TSTRING) {
    q = check_codes(L, 2, &nq);
  } else {
    qf = tensor_f32(L, 2);
    nq = tensor_check(L, 2)->n;
  }
  float scale = (float)luaL_optnumber(L, 3, 1.0);
  int zp = (int)luaL_optinteger(L, 4, 0);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_Integer V = luaL_checkinteger(L, 6);
  luaL_argcheck(L, V > 0 && f->n == nq && nq % (size_t)V == 0, 2, "logit shapes differ");
  size_t n = nq / (size_t)V;
  double *xf = malloc((size_t)V * sizeof *xf), *xq = malloc((size_t)V * sizeof *xq);
  double *lf = malloc((size_t)V * sizeof *lf), *lq = malloc((size_t)V * sizeof *lq);
  if (!xf || !xq || !lf || !lq) return luaL_error(L, "out of memory");
  double nll_q = 0.0, nll_f = 0.0, kl = 0.0;
  lua_Integer agree = 0, scored = 0;
  for (size_t r = 0; r < n; r++) {
    int best_f = 0, best_q = 0;
    for (lua_Integer j = 0; j < V; j++) {
      xf[j] = fl[r * (size_t)V + (size_t)j];
      const size_t at = r * (size_t)V + (size_t)j;
      xq[j] = q ? (double)((float)(q[at] - zp) * scale) : (double)qf[at];
      if (xf[j] > xf[best_f]) best_f = (int)j;
      if (xq[j] > xq[best_q]) best_q = (int)j;
    }
    log_softmax(lf, xf, (int)V);
    log_softmax(lq, xq, (int)V);
    for (lua_Integer j = 0; j < V; j++) kl += kiln_exp(lf[j]) * (lf[j] - lq[j]);
    if (best_f == best_q) agree++;
    if (lua_rawgeti(L, 5, (lua_Integer)r + 1) == LUA_TNUMBER) {
      lua_Integer t = lua_tointeger(L, -1);
      if (t >= 0 && t < V) {
        nll_q -= lq[t];
        nll_f -= lf[t];
        scored++;
      }
    }
    lua_pop(L, 1);
  }
  free(xf); free(xq); free(lf); free(lq);
  lua_pushnumber(L, nll_q);
  lua_pushnumber(L, nll_f);
  lua_pushnumber(L, kl);
  lua_pushinteger(L, agree);
  lua_pushinteger(L, (lua_Integer)n);
  lua_pushinteger(L, scored);
  return 6;
}

const luaL_Reg measure_functions[] = {
    { "dequantize", l_dequantize },
    { "code_diff", l_code_diff },
    { "diff_stats", l_diff_stats },
    { "logit_metrics", l_logit_metrics },
    { NULL, NULL },
};
