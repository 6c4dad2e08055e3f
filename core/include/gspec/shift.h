/* The "particle" gain-shift operator of gammabench-spec.md 1.6 and 3.6.
 *
 * A 1024-channel GammaBench spectrum (2 keV channels from 20 keV) is turned
 * into particles: n_j = int(round(s_j / sum(s) * N)) (or floor, the rule
 * of find_drift_spectrum), placed at numpy.linspace(E_j, E_j + 2, n_j) with
 * E_j = 2 j + 20, moved to E (1 - alpha0) + alpha1, histogrammed in 1 keV
 * bins with edges 0..2068 (numpy rules: half-open, the last bin closed,
 * out-of-range dropped), cut to bins 20..2067 and pair-summed.
 *
 * The result is bit-exact with numpy 1.24 without materialising the
 * particles: per source channel and bin edge, the number of points below
 * the edge is found by bisection on the same floating-point expressions
 * numpy evaluates. */
#ifndef GSPEC_SHIFT_H
#define GSPEC_SHIFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_SHIFT_N_CHANNELS 1024
#define GS_SHIFT_DEFAULT_PARTICLES 1e6

/* How s_j / sum(s) * N becomes an integer number of particles. */
typedef enum gs_shift_rule
{
  GS_SHIFT_ROUND = 0, /* numpy round (half to even): get_drift_spectrum,
                         get_X_drift_est */
  GS_SHIFT_FLOOR = 1  /* floor: find_drift_spectrum */
} gs_shift_rule;

/* Particles per channel: n[j] for s[0..1023].  n_particles <= 0 means
 * GS_SHIFT_DEFAULT_PARTICLES (at most 1e12).  s must be finite,
 * non-negative, with a positive sum (GS_EBADDATA naming the channel
 * otherwise).  The sum is numpy's pairwise sum, so n matches numpy even
 * at .5 ties. */
int gs_shift_particles (const double *s, gs_shift_rule rule,
                        double n_particles, int64_t *n);

/* Shifts the particles n[0..1023] by (alpha0, alpha1) and writes the
 * per-channel counts after the cut and pair-sum into h[0..1023].
 * alpha0 and alpha1 must be finite. */
int gs_shift_histogram (const int64_t *n, double alpha0, double alpha1,
                        int64_t *h);

/* Particles prepared for many shifts (the cost of a Nelder-Mead search
 * evaluates one particle set at ~100 shifts): the channels that hold
 * particles, with their linspace steps.  About 33 KB; fill it with
 * gs_shift_prepare. */
typedef struct gs_shift_prep
{
  size_t m;                           /* channels with particles */
  double start[GS_SHIFT_N_CHANNELS];  /* E_j = 2 j + 20 */
  double step[GS_SHIFT_N_CHANNELS];   /* 2 / (n_j - 1) (0 when n_j = 1) */
  int64_t n[GS_SHIFT_N_CHANNELS];     /* n_j >= 1 */
} gs_shift_prep;

/* p = the particles n[0..1024) (each >= 0; GS_EBADDATA naming the
 * channel otherwise). */
int gs_shift_prepare (const int64_t *n, gs_shift_prep *p);

/* gs_shift_histogram on prepared particles (the same counts, bit for
 * bit). */
int gs_shift_histogram_prepared (const gs_shift_prep *p, double alpha0,
                                 double alpha1, int64_t *h);

/* The whole operator (get_drift_spectrum): out[c] = h[c] / sum(h) *
 * sum(s).  GS_ERANGE when every particle leaves the 20..2068 keV window.
 * out may equal s. */
int gs_shift_spectrum (const double *s, double alpha0, double alpha1,
                       gs_shift_rule rule, double n_particles, double *out);

/* get_X_drift_est: shifts every column of the row-major 1024 x
 * n_components matrix X, replaces exact zeros of column 0 (the
 * background) by min(positive) / 100, and divides every column by its sum
 * (summed over channels in order, as numpy does for a C-ordered matrix).
 * out (same shape) may equal X.  Errors name the column. */
int gs_shift_library_columns (const double *X, size_t n_components,
                              double alpha0, double alpha1,
                              gs_shift_rule rule, double n_particles,
                              double *out);

/* numpy's float64 sum of a strided vector (pairwise, blocks of 8 and
 * 128), so that totals match numpy to the last bit. */
double gs_shift_numpy_sum (const double *a, size_t n, size_t stride);

#ifdef __cplusplus
}
#endif
#endif
