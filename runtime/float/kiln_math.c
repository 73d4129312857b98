/*
 * Elementary functions in a fixed order of IEEE 754 operations (see
 * kiln_math.h). Range reduction after Cody and Waite, with fdlibm's split
 * constants; the series are Taylor's, evaluated by Horner's rule.
 */
#include "kiln_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static const double INV_LN2 = 1.44269504088896338700e+00;
static const double LN2_HI = 6.93147180369123816490e-01; /* 32 bits: k * LN2_HI is exact for |k| < 2^21 */
static const double LN2_LO = 1.90821492927058770002e-10;
static const double SQRT_HALF = 7.07106781186547524401e-01;
static const double TWO_OVER_PI = 6.36619772367581382433e-01;
static const double PIO2_1 = 1.57079632673412561417e+00; /* pi/2 in three 33-bit parts: */
static const double PIO2_2 = 6.07710050630396597660e-11; /* n * PIO2_1 and n * PIO2_2 are exact */
static const double PIO2_3 = 2.02226624871116645580e-21; /* for |n| < 2^20 */

/* 2^k for -1022 <= k <= 1023, exactly. */
static double pow2i(int k) {
  const uint64_t bits = (uint64_t)(k + 1023) << 52;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* exp(x) = 2^k exp(r) with k the nearest integer to x / ln 2 (ties to even,
 * by the 1.5 * 2^52 shift: |x| < 2^51 ln 2) and r = x - k ln 2, |r| <= 0.3466:
 * returns exp(r) and sets k. */
static double exp_reduced(double x, int *k) {
  const double kd = (x * INV_LN2 + 0x1.8p52) - 0x1.8p52;
  *k = (int)kd;
  const double r = (x - kd * LN2_HI) - kd * LN2_LO;
  /* exp(r) = 1 + r + r^2 p(r), p(r) = sum over n >= 2 of r^(n-2) / n!, to r^14 / 14! */
  double p = 1.0 / 87178291200.0;
  p = p * r + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  return 1.0 + (r + (r * r) * p);
}

double kiln_exp(double x) {
  if (x != x) return x;
  if (x > 709.782712893384) return INFINITY; /* above log(DBL_MAX) */
  if (x < -745.1332191019412) return 0.0;    /* below log of half the smallest subnormal */
  int k;
  const double e = exp_reduced(x, &k);
  /* e * 2^k, rounded once: through a normal intermediate at the ends of the range */
  if (k > 1023) return (e * pow2i(1023)) * pow2i(k - 1023);
  if (k < -1021) return (e * pow2i(k + 600)) * pow2i(-600);
  return e * pow2i(k);
}

double kiln_log(double x) {
  if (x != x || x < 0) return NAN;
  if (x == 0) return -INFINITY;
  if (x == INFINITY) return x;
  int e;
  double m = frexp(x, &e); /* x = m 2^e exactly, m in [1/2, 1) */
  if (m < SQRT_HALF) {
    m *= 2;
    e -= 1;
  }
  /* log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: the series to s^23 */
  const double f = m - 1.0; /* exact */
  const double s = f / (2.0 + f), s2 = s * s;
  double q = 1.0 / 23.0;
  q = q * s2 + 1.0 / 21.0;
  q = q * s2 + 1.0 / 19.0;
  q = q * s2 + 1.0 / 17.0;
  q = q * s2 + 1.0 / 15.0;
  q = q * s2 + 1.0 / 13.0;
  q = q * s2 + 1.0 / 11.0;
  q = q * s2 + 1.0 / 9.0;
  q = q * s2 + 1.0 / 7.0;
  q = q * s2 + 1.0 / 5.0;
  q = q * s2 + 1.0 / 3.0;
  const double log_m = 2.0 * s + (2.0 * s) * (s2 * q);
  const double ed = (double)e;
  return ed * LN2_HI + (log_m + ed * LN2_LO);
}

/* sin and cos of r, |r| <= pi/4: Taylor series to r^19 and r^18. */
static double sin_reduced(double r) {
  const double r2 = r * r;
  double p = -1.0 / 121645100408832000.0;
  p = p * r2 + 1.0 / 355687428096000.0;
  p = p * r2 - 1.0 / 1307674368000.0;
  p = p * r2 + 1.0 / 6227020800.0;
  p = p * r2 - 1.0 / 39916800.0;
  p = p * r2 + 1.0 / 362880.0;
  p = p * r2 - 1.0 / 5040.0;
  p = p * r2 + 1.0 / 120.0;
  p = p * r2 - 1.0 / 6.0;
  return r + (r * r2) * p;
}

static double cos_reduced(double r) {
  const double r2 = r * r;
  double p = -1.0 / 6402373705728000.0;
  p = p * r2 + 1.0 / 20922789888000.0;
  p = p * r2 - 1.0 / 87178291200.0;
  p = p * r2 + 1.0 / 479001600.0;
  p = p * r2 - 1.0 / 3628800.0;
  p = p * r2 + 1.0 / 40320.0;
  p = p * r2 - 1.0 / 720.0;
  p = p * r2 + 1.0 / 24.0;
  return (1.0 - 0.5 * r2) + (r2 * r2) * p;
}

void kiln_sincos(double x, double *s, double *c) {
  if (x != x || x == INFINITY || x == -INFINITY) {
    *s = *c = NAN;
    return;
  }
  const double nd = floor(x * TWO_OVER_PI + 0.5);
  const double r = ((x - nd * PIO2_1) - nd * PIO2_2) - nd * PIO2_3;
  const double sr = sin_reduced(r), cr = cos_reduced(r);
  switch ((int)(nd - 4.0 * floor(nd * 0.25))) { /* the quadrant, nd mod 4 */
  case 0:
    *s = sr;
    *c = cr;
    break;
  case 1:
    *s = cr;
    *c = -sr;
    break;
  case 2:
    *s = -sr;
    *c = -cr;
    break;
  default:
    *s = -cr;
    *c = sr;
    break;
  }
}

/* exp in double, rounded once to float32. Below log(2^-150) the float32
 * result is 0 (masked attention scores are all there), above log(FLT_MAX)
 * infinity. */
float kiln_expf(float x) {
  if (x != x) return x;
  if (x < -103.9721f) return 0.0f;
  if (x > 88.72284f) return INFINITY;
  int k;
  const double e = exp_reduced((double)x, &k);
  return (float)(e * pow2i(k)); /* |k| <= 150: 2^k is a normal double, the product exact */
}
