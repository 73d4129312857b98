/*
 * exp, log, sin and cos for the float references and the generator, with the
 * same bits on every host.
 *
 * libm's versions are not: glibc picks an FMA or a plain SSE2 variant of
 * exp, log, sin, cos and pow at load time from the CPU, and their last bits
 * differ (GLIBC_TUNABLES=glibc.cpu.hwcaps=-FMA shows it on one machine).
 * These use only IEEE 754 + - * / on doubles, floor and frexp, each
 * correctly rounded or exact everywhere, in a fixed order (the library is
 * built with -ffp-contract=off, so nothing is fused). They are accurate to
 * a few units in the last place of a double, ample for float32 results and
 * for the statistics kiln prints; they are not correctly rounded.
 */
#ifndef KILN_MATH_H
#define KILN_MATH_H

double kiln_exp(double x);
double kiln_log(double x);
/* sin and cos of x radians; accurate for |x| < 2^20 (arguments are reduced
 * by a three-part pi/2), deterministic for any x. */
void kiln_sincos(double x, double *s, double *c);

/* exp for float32 results: computed in double, rounded once. */
float kiln_expf(float x);

#endif
