/* gs_rebin and gs_spectra_rebin: closed forms for identity, half-channel
 * shifts and a doubled slope, count conservation and peak position
 * between gamma_flow's calibrations, scipy interp1d values in LINEAR
 * mode, bad input, sets in memory and a real gamma_flow set. */
#include <CUnit/CUnit.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/rebin.h"
#include "gspec/spectra.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

enum
{
  GF_N = 256 /* gamma_flow's channel count */
};

/* gamma_flow's detectors (gamma_flow-spec.md D3) and standard target (D2). */
static const gs_calib gf_left = { -11.07, 8.08, 0.00104 };
static const gs_calib gf_right = { -10.3, 8.106, 0.00129 };
static const gs_calib gf_sim = { -12.2, 8.17, 0.0015 };
static const gs_calib gf_std = { -12.0, 8.15, 0.0012 };

static double
sum (const double *a, size_t n)
{
  double t = 0.0;
  size_t i;
  for (i = 0; i < n; i++)
    t += a[i];
  return t;
}

static double
max_abs (const double *a, size_t n)
{
  double m = 0.0;
  size_t i;
  for (i = 0; i < n; i++)
    m = fabs (a[i]) > m ? fabs (a[i]) : m;
  return m;
}

/* The calibration written out, independent of gs_calib_energy. */
static double
energy (const gs_calib *c, double x)
{
  return c->offset + c->slope * x + c->quad * x * x;
}

/* Poisson counts on a falling continuum with a few empty channels, from
 * a fixed-seed generator. */
static void
random_counts (gsl_rng *rng, double *c, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    c[i] = (i % 23 == 7) ? 0.0
                         : (double)gsl_ran_poisson (
                             rng, 800.0 * exp (-(double)i / 50.0) + 15.0);
}

/* ---- closed forms --------------------------------------------------- */

static void
test_rebin_identity (void)
{
  double src[GF_N], dst[GF_N], dl = 0.0, diff_lin = 0.0;
  gs_rebin_report r;
  gsl_rng *rng = gsl_rng_alloc (gsl_rng_mt19937);
  size_t i;
  gsl_rng_set (rng, 11);
  random_counts (rng, src, GF_N);
  CU_ASSERT_EQUAL (
      gs_rebin (src, GF_N, &gf_left, dst, GF_N, &gf_left, GS_REBIN_OVERLAP, &r),
      GS_OK);
  /* Exact: every piece covers a whole channel, fraction w / w = 1. */
  CU_ASSERT_EQUAL (memcmp (src, dst, sizeof src), 0);
  CU_ASSERT_EQUAL (r.underflow, 0.0);
  CU_ASSERT_EQUAL (r.overflow, 0.0);
  CU_ASSERT_EQUAL (
      gs_rebin (src, GF_N, &gf_left, dst, GF_N, &gf_left, GS_REBIN_LINEAR, &r),
      GS_OK);
  /* LINEAR goes through scipy's slope * dx + y_lo: rounding only. */
  for (i = 0; i < GF_N; i++)
    {
      dl = fabs (dst[i] - src[i]);
      diff_lin = dl > diff_lin ? dl : diff_lin;
    }
  printf ("\n  identity: overlap exact, linear max |diff| %.3g (tol 1e-12 * "
          "max %g)\n",
          diff_lin, max_abs (src, GF_N));
  CU_ASSERT (diff_lin <= 1e-12 * max_abs (src, GF_N));
  gsl_rng_free (rng);
}

/* Half a channel up and down, against 0.5 (c[i] + c[i+1]). */
static void
half_shift_case (const gs_calib *from, double tol_rel)
{
  enum
  {
    N = 64
  };
  double src[N], dst[N], ref[N], worst = 0.0, scale;
  gs_calib up = *from, down = *from;
  gs_rebin_report r;
  gsl_rng *rng = gsl_rng_alloc (gsl_rng_mt19937);
  size_t i;
  gsl_rng_set (rng, 12);
  random_counts (rng, src, N);
  scale = max_abs (src, N);
  up.offset = from->offset + from->slope / 2.0;
  down.offset = from->offset - from->slope / 2.0;

  /* Target channel i = upper half of source i + lower half of i + 1; the
   * lower half of source 0 lies below the target grid. */
  for (i = 0; i + 1 < N; i++)
    ref[i] = 0.5 * (src[i] + src[i + 1]);
  ref[N - 1] = 0.5 * src[N - 1];
  CU_ASSERT_EQUAL (gs_rebin (src, N, from, dst, N, &up, GS_REBIN_OVERLAP, &r),
                   GS_OK);
  for (i = 0; i < N; i++)
    worst = fmax (worst, fabs (dst[i] - ref[i]));
  worst = fmax (worst, fabs (r.underflow - 0.5 * src[0]));
  worst = fmax (worst, fabs (r.overflow));

  /* Down: target 0 = lower half of source 0, the upper half of the last
   * source channel lies above the grid. */
  ref[0] = 0.5 * src[0];
  for (i = 1; i < N; i++)
    ref[i] = 0.5 * (src[i - 1] + src[i]);
  CU_ASSERT_EQUAL (gs_rebin (src, N, from, dst, N, &down, GS_REBIN_OVERLAP, &r),
                   GS_OK);
  for (i = 0; i < N; i++)
    worst = fmax (worst, fabs (dst[i] - ref[i]));
  worst = fmax (worst, fabs (r.overflow - 0.5 * src[N - 1]));
  worst = fmax (worst, fabs (r.underflow));
  printf ("  half shift (offset %g, slope %g): max |diff| %.3g (tol %g * "
          "max %g)\n",
          from->offset, from->slope, worst, tol_rel, scale);
  CU_ASSERT (worst <= tol_rel * scale);
  gsl_rng_free (rng);
}

static void
test_rebin_half_shift (void)
{
  const gs_calib dyadic = { 1.0, 2.0, 0.0 };
  const gs_calib gf_linear = { -12.0, 8.15, 0.0 };
  printf ("\n");
  half_shift_case (&dyadic, 0.0); /* all edges exact in binary */
  half_shift_case (&gf_linear, 1e-12);
}

/* Twice the slope with aligned edges: target j = c[2j] + c[2j+1]. */
static void
double_slope_case (const gs_calib *from, double tol_rel)
{
  enum
  {
    N = 256
  };
  double src[N], dst[N / 2], worst = 0.0, scale;
  gs_calib to;
  gs_rebin_report r;
  gsl_rng *rng = gsl_rng_alloc (gsl_rng_mt19937);
  size_t j;
  gsl_rng_set (rng, 13);
  random_counts (rng, src, N);
  scale = max_abs (src, N);
  /* to.offset + 2 s (j - 1/2) = from.offset + s (2j - 1/2). */
  to.offset = from->offset + from->slope / 2.0;
  to.slope = 2.0 * from->slope;
  to.quad = 0.0;
  CU_ASSERT_EQUAL (
      gs_rebin (src, N, from, dst, N / 2, &to, GS_REBIN_OVERLAP, &r), GS_OK);
  for (j = 0; j < N / 2; j++)
    worst = fmax (worst, fabs (dst[j] - (src[2 * j] + src[2 * j + 1])));
  worst = fmax (worst, fabs (r.underflow));
  worst = fmax (worst, fabs (r.overflow));
  printf ("  doubled slope (offset %g, slope %g): max |diff| %.3g (tol %g * "
          "max %g)\n",
          from->offset, from->slope, worst, tol_rel, scale);
  CU_ASSERT (worst <= tol_rel * scale);
  gsl_rng_free (rng);
}

static void
test_rebin_double_slope (void)
{
  const gs_calib dyadic = { 1.0, 2.0, 0.0 };
  const gs_calib gf_linear = { -12.0, 8.15, 0.0 };
  printf ("\n");
  double_slope_case (&dyadic, 0.0);
  double_slope_case (&gf_linear, 1e-12);
}

/* ---- gamma_flow's calibrations ------------------------------------- */

/* Channel position x with E(x) = e, by the quadratic formula. */
static double
inverse (const gs_calib *c, double e)
{
  if (c->quad == 0.0)
    return (e - c->offset) / c->slope;
  return (-c->slope
          + sqrt (c->slope * c->slope - 4.0 * c->quad * (c->offset - e)))
         / (2.0 * c->quad);
}

/* Counts of src (calibration c, n channels) below energy e, assuming
 * uniform spread in energy over each channel: an independent reference
 * for the under- and overflow. */
static double
counts_below (const double *src, size_t n, const gs_calib *c, double e)
{
  double x = inverse (c, e), lo, hi, t = 0.0;
  long k = (long)floor (x + 0.5), i;
  if (k < 0)
    return 0.0;
  if (k >= (long)n)
    return sum (src, n);
  for (i = 0; i < k; i++)
    t += src[i];
  lo = energy (c, (double)k - 0.5);
  hi = energy (c, (double)k + 0.5);
  return t + src[k] * (e - lo) / (hi - lo);
}

static double
centroid (const double *c, size_t n, const gs_calib *cal)
{
  double num = 0.0, den = 0.0;
  size_t i;
  for (i = 0; i < n; i++)
    {
      num += c[i] * energy (cal, (double)i);
      den += c[i];
    }
  return num / den;
}

static void
test_rebin_conservation (void)
{
  const gs_calib *cal[4] = { &gf_left, &gf_right, &gf_sim, &gf_std };
  const char *name[4] = { "left", "right", "sim", "std" };
  double src[GF_N], dst[GF_N], worst = 0.0, worst_flow = 0.0;
  double worst_peak = 0.0, worst_peak_lin = 0.0;
  gsl_rng *rng = gsl_rng_alloc (gsl_rng_mt19937);
  size_t a, b, i, trial;
  gsl_rng_set (rng, 20240124);
  printf ("\n");
  for (a = 0; a < 4; a++)
    for (b = 0; b < 4; b++)
      {
        const double mu = 661.657, sigma = 8.0;
        double in, out, rel, t_lo, t_hi, ref_u, ref_o, width, cen;
        gs_rebin_report r;
        if (a == b)
          continue;
        for (trial = 0; trial < 10; trial++)
          {
            random_counts (rng, src, GF_N);
            CU_ASSERT_EQUAL_FATAL (gs_rebin (src, GF_N, cal[a], dst, GF_N,
                                             cal[b], GS_REBIN_OVERLAP, &r),
                                   GS_OK);
            in = sum (src, GF_N);
            out = sum (dst, GF_N);
            rel = fabs (out + r.underflow + r.overflow - in) / in;
            worst = fmax (worst, rel);
            CU_ASSERT (rel <= 1e-12);
            CU_ASSERT (fabs (r.input - in) <= 1e-12 * in);
            CU_ASSERT (fabs (r.output - out) <= 1e-12 * in);
            /* Under- and overflow against the quadratic-formula
             * reference. */
            t_lo = energy (cal[b], -0.5);
            t_hi = energy (cal[b], GF_N - 0.5);
            ref_u = counts_below (src, GF_N, cal[a], t_lo);
            ref_o = in - counts_below (src, GF_N, cal[a], t_hi);
            worst_flow = fmax (worst_flow, fabs (r.underflow - ref_u) / in);
            worst_flow = fmax (worst_flow, fabs (r.overflow - ref_o) / in);
            CU_ASSERT (fabs (r.underflow - ref_u) <= 1e-9 * in);
            CU_ASSERT (fabs (r.overflow - ref_o) <= 1e-9 * in);
            if (trial == 0)
              printf ("  %-5s -> %-5s: in %.0f, out %.6f, under %.6f, over "
                      "%.6f (ref %.6f, %.6f)\n",
                      name[a], name[b], in, out, r.underflow, r.overflow, ref_u,
                      ref_o);
          }
        /* A narrow peak (Cs-137, sigma ~1 channel) integrated over the
         * source channels stays at the same energy. */
        for (i = 0; i < GF_N; i++)
          src[i] = 1e5
                   * (gsl_cdf_gaussian_P (energy (cal[a], (double)i + 0.5) - mu,
                                          sigma)
                      - gsl_cdf_gaussian_P (
                          energy (cal[a], (double)i - 0.5) - mu, sigma));
        width = cal[b]->slope + 2.0 * cal[b]->quad * inverse (cal[b], mu);
        CU_ASSERT_EQUAL (gs_rebin (src, GF_N, cal[a], dst, GF_N, cal[b],
                                   GS_REBIN_OVERLAP, NULL),
                         GS_OK);
        cen = centroid (dst, GF_N, cal[b]);
        worst_peak = fmax (worst_peak, fabs (cen - mu) / width);
        CU_ASSERT (fabs (cen - mu) <= 0.1 * width);
        CU_ASSERT_EQUAL (gs_rebin (src, GF_N, cal[a], dst, GF_N, cal[b],
                                   GS_REBIN_LINEAR, NULL),
                         GS_OK);
        cen = centroid (dst, GF_N, cal[b]);
        worst_peak_lin = fmax (worst_peak_lin, fabs (cen - mu) / width);
        CU_ASSERT (fabs (cen - mu) <= 0.1 * width);
      }
  printf ("  conservation: worst |out + under + over - in| / in = %.3g (tol "
          "1e-12); under/overflow vs reference %.3g (tol 1e-9)\n",
          worst, worst_flow);
  printf ("  peak at %.3f keV: worst centroid shift %.4f (overlap), %.4f "
          "(linear) target channels (tol 0.1)\n",
          661.657, worst_peak, worst_peak_lin);
  gsl_rng_free (rng);
}

/* ---- LINEAR mode ---------------------------------------------------- */

static void
check_values (const double *got, const double *want, size_t n, const char *what)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      double tol = 1e-12 * fmax (1.0, fabs (want[i]));
      if (!(fabs (got[i] - want[i]) <= tol))
        {
          fprintf (stderr, "\n  %s: channel %zu is %.17g, want %.17g\n", what,
                   i, got[i], want[i]);
          CU_FAIL ("LINEAR value differs");
        }
    }
}

static void
test_rebin_linear (void)
{
  const double src[4] = { 0.0, 10.0, 4.0, 6.0 };
  double dst[5];
  gs_rebin_report r;
  /* Source centres 0, 1, 2, 3; targets half a channel off: -0.5 and 3.5
   * lie outside [0, 3] and get the fill value 0. */
  {
    const gs_calib from = { 0.0, 1.0, 0.0 }, to = { -0.5, 1.0, 0.0 };
    const double want[5] = { 0.0, 5.0, 7.0, 5.0, 0.0 };
    CU_ASSERT_EQUAL (gs_rebin (src, 4, &from, dst, 5, &to, GS_REBIN_LINEAR, &r),
                     GS_OK);
    check_values (dst, want, 5, "half shift");
    CU_ASSERT_EQUAL (r.underflow, 0.0);
    CU_ASSERT_EQUAL (r.overflow, 0.0);
    CU_ASSERT_EQUAL (r.input, 20.0);
    CU_ASSERT_EQUAL (r.output, 17.0); /* not conserved */
  }
  /* Targets 0.25, 1, 1.75, 2.5, 3.25: 1 is a source centre (scipy takes
   * the segment on its left), 3.25 is outside. */
  {
    const gs_calib from = { 0.0, 1.0, 0.0 }, to = { 0.25, 0.75, 0.0 };
    const double want[5] = { 2.5, 10.0, 5.5, 5.0, 0.0 };
    CU_ASSERT_EQUAL (
        gs_rebin (src, 4, &from, dst, 5, &to, GS_REBIN_LINEAR, NULL), GS_OK);
    check_values (dst, want, 5, "slope 0.75");
  }
  /* Quadratic source: centres 0, 1.5, 4, 7.5; targets 1, 3, 5, 7:
   * 10/1.5, 10 - 6 * 1.5/2.5, 4 + 2/3.5, 4 + 2 * 3/3.5. */
  {
    const gs_calib from = { 0.0, 1.0, 0.5 }, to = { 1.0, 2.0, 0.0 };
    const double want[4] = { 20.0 / 3.0, 6.4, 32.0 / 7.0, 40.0 / 7.0 };
    CU_ASSERT_EQUAL (
        gs_rebin (src, 4, &from, dst, 4, &to, GS_REBIN_LINEAR, NULL), GS_OK);
    check_values (dst, want, 4, "quadratic source");
  }
  /* Negatives -> 1e-6: at the source centre 0.6 scipy computes
   * (0 - 7) / 0.6 * 0.6 + 7, which rounds to -8.9e-16. */
  {
    const double s3[3] = { 7.0, 0.0, 3.0 };
    const gs_calib c = { 0.0, 0.6, 0.0 };
    const double want[3] = { 7.0, 1e-6, 3.0 };
    volatile double slope = (0.0 - 7.0) / 0.6, dx = 0.6;
    double raw = slope * dx + 7.0;
    CU_ASSERT (raw < 0.0); /* the premise of this case */
    CU_ASSERT_EQUAL (gs_rebin (s3, 3, &c, dst, 3, &c, GS_REBIN_LINEAR, NULL),
                     GS_OK);
    printf ("\n  linear: raw value %.3g at 0.6 keV -> %.3g\n", raw, dst[1]);
    CU_ASSERT_EQUAL (dst[1], 1e-6);
    check_values (dst, want, 3, "negative -> 1e-6");
  }
}

/* ---- bad input ------------------------------------------------------ */

/* rc is `want`, the message contains `needle`, dst is untouched. */
static void
expect_error (int rc, int want, const char *needle, const double *dst, size_t n)
{
  size_t i;
  CU_ASSERT_EQUAL (rc, want);
  GS_ASSERT_CONTAINS (gs_last_error (), needle);
  for (i = 0; i < n; i++)
    CU_ASSERT_EQUAL (dst[i], -1.0);
}

static void
test_rebin_bad_input (void)
{
  enum
  {
    N = 256
  };
  double src[N], dst[N];
  const gs_calib ok = { 0.0, 8.0, 0.0 };
  const gs_calib neg_slope = { 0.0, -8.0, 0.0 };
  /* slope + 2 quad ch = 8 - 0.096 ch <= 0 first at ch = 84 (83.3). */
  const gs_calib bent = { 0.0, 8.0, -0.048 };
  gs_calib nan_cal = { 0.0, 8.0, 0.0 }, inf_cal = { 0.0, 8.0, 0.0 };
  gs_rebin_report r;
  size_t i;
  for (i = 0; i < N; i++)
    {
      src[i] = 1.0;
      dst[i] = -1.0;
    }
  nan_cal.offset = NAN;
  inf_cal.quad = INFINITY;

  expect_error (
      gs_rebin (src, N, &neg_slope, dst, N, &ok, GS_REBIN_OVERLAP, &r),
      GS_EINVAL, "source calibration", dst, N);
  GS_ASSERT_CONTAINS (gs_last_error (), "not increasing at channel 0");
  expect_error (gs_rebin (src, N, &ok, dst, N, &bent, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "target calibration", dst, N);
  GS_ASSERT_CONTAINS (gs_last_error (), "not increasing at channel 84 of 256");
  printf ("\n  bent calibration: %s\n", gs_last_error ());
  /* The same calibration is fine over the first 84 channels. */
  CU_ASSERT_EQUAL (gs_calib_check (&bent, 84), GS_OK);
  CU_ASSERT_EQUAL (gs_calib_check (&bent, 85), GS_EINVAL);
  expect_error (gs_rebin (src, N, &nan_cal, dst, N, &ok, GS_REBIN_LINEAR, &r),
                GS_EINVAL, "not finite", dst, N);
  GS_ASSERT_CONTAINS (gs_last_error (), "source calibration");
  expect_error (gs_calib_check (&inf_cal, N), GS_EINVAL, "not finite", dst, N);
  expect_error (gs_calib_check (NULL, N), GS_EINVAL, "NULL", dst, N);
  expect_error (gs_calib_check (&ok, 0), GS_EINVAL, "0 channels", dst, N);

  src[5] = NAN;
  expect_error (gs_rebin (src, N, &ok, dst, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EBADDATA, "channel 5 ", dst, N);
  src[5] = 1.0;
  src[17] = -2.0;
  expect_error (gs_rebin (src, N, &ok, dst, N, &ok, GS_REBIN_LINEAR, &r),
                GS_EBADDATA, "channel 17 is -2", dst, N);
  printf ("  negative count: %s\n", gs_last_error ());
  src[17] = INFINITY;
  expect_error (gs_rebin (src, N, &ok, dst, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EBADDATA, "channel 17 is inf", dst, N);
  src[17] = 1.0;

  expect_error (gs_rebin (src, 0, &ok, dst, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "source spectrum has 0 channels", dst, N);
  expect_error (gs_rebin (src, N, &ok, dst, 0, &ok, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "target spectrum has 0 channels", dst, N);
  expect_error (gs_rebin (NULL, N, &ok, dst, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "NULL source", dst, N);
  expect_error (gs_rebin (src, N, &ok, NULL, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "NULL target", dst, N);
  expect_error (gs_rebin (src, N, NULL, dst, N, &ok, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "source calibration is NULL", dst, N);
  expect_error (gs_rebin (src, N, &ok, dst, N, NULL, GS_REBIN_OVERLAP, &r),
                GS_EINVAL, "target calibration is NULL", dst, N);
  expect_error (gs_rebin (src, N, &ok, dst, N, &ok, (gs_rebin_mode)7, &r),
                GS_EINVAL, "unknown mode 7", dst, N);
  expect_error (gs_rebin (src, 1, &ok, dst, N, &ok, GS_REBIN_LINEAR, &r),
                GS_EINVAL, "at least 2 source channels", dst, N);
  /* One channel is fine for OVERLAP. */
  CU_ASSERT_EQUAL (gs_rebin (src, 1, &ok, dst, 1, &ok, GS_REBIN_OVERLAP, &r),
                   GS_OK);
  CU_ASSERT_EQUAL (dst[0], 1.0);
}

/* ---- sets ----------------------------------------------------------- */

static void
test_rebin_spectra (void)
{
  /* Spectrum 0: edges 2k - 1 (aligned with the target's 4k - 1);
   * spectrum 1: edges 2k, half a source channel off. */
  const double c0[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  const double c1[8] = { 10, 20, 30, 40, 50, 60, 70, 80 };
  const double want0[4] = { 3, 7, 11, 15 };
  /* [-1,3): c0 + c1/2; [3,7): c1/2 + c2 + c3/2; ...; [11,15): c5/2 + c6
   * + c7/2, the other half of c7 above 15. */
  const double want1[4] = { 20, 60, 100, 140 };
  const gs_calib to = { 1.0, 4.0, 0.0 };
  gs_spectra *s = gs_spectra_alloc (2, 8);
  gs_rebin_report r;
  double *old;
  size_t i;
  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  memcpy (s->counts, c0, sizeof c0);
  memcpy (s->counts + 8, c1, sizeof c1);

  /* No calibration: refused, nothing changed. */
  CU_ASSERT_EQUAL (gs_spectra_rebin (s, &to, 4, GS_REBIN_OVERLAP, &r),
                   GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "no energy calibration");
  CU_ASSERT_EQUAL (s->n_channels, 8);

  s->cal_offset = calloc (2, sizeof (double));
  s->cal_slope = calloc (2, sizeof (double));
  s->cal_quad = calloc (2, sizeof (double));
  CU_ASSERT_FATAL (s->cal_offset && s->cal_slope && s->cal_quad);
  s->cal_offset[0] = 0.0;
  s->cal_slope[0] = 2.0;
  s->cal_offset[1] = 1.0;
  s->cal_slope[1] = 2.0;

  /* A NaN in spectrum 1 is reported with its row; s is unchanged. */
  s->counts[8 + 3] = NAN;
  old = s->counts;
  CU_ASSERT_EQUAL (gs_spectra_rebin (s, &to, 4, GS_REBIN_OVERLAP, &r),
                   GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "spectrum 1: rebin: source count at "
                                        "channel 3");
  printf ("\n  set error: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (s->n_channels, 8);
  CU_ASSERT_PTR_EQUAL (s->counts, old);
  CU_ASSERT_EQUAL (s->cal_slope[1], 2.0);
  s->counts[8 + 3] = 40.0;

  CU_ASSERT_EQUAL_FATAL (gs_spectra_rebin (s, &to, 4, GS_REBIN_OVERLAP, &r),
                         GS_OK);
  CU_ASSERT_EQUAL (s->n_channels, 4);
  CU_ASSERT_EQUAL (s->n_spectra, 2);
  for (i = 0; i < 4; i++)
    {
      CU_ASSERT_EQUAL (s->counts[i], want0[i]);
      CU_ASSERT_EQUAL (s->counts[4 + i], want1[i]);
    }
  for (i = 0; i < 2; i++)
    {
      CU_ASSERT_EQUAL (s->cal_offset[i], 1.0);
      CU_ASSERT_EQUAL (s->cal_slope[i], 4.0);
      CU_ASSERT_EQUAL (s->cal_quad[i], 0.0);
    }
  printf ("  set: in %g, out %g, under %g, over %g\n", r.input, r.output,
          r.underflow, r.overflow);
  CU_ASSERT_EQUAL (r.input, 36.0 + 360.0);
  CU_ASSERT_EQUAL (r.output, 36.0 + 320.0);
  CU_ASSERT_EQUAL (r.underflow, 0.0);
  CU_ASSERT_EQUAL (r.overflow, 40.0); /* half of spectrum 1's last 80 */
  gs_spectra_free (s);
}

/* A real gamma_flow set read with its meta file: the reader's
 * calibration columns, and conservation onto gamma_flow's target. */
static void
real_set (const char *dir, const char *name, const gs_calib *want)
{
  char *prefix = gs__path_join (dir, name);
  gs_spectra *s = NULL;
  gs_rebin_report r;
  double in, out, rel;
  size_t n;
  if (gs_spectra_read_labelled (prefix, &s) != GS_OK)
    {
      fprintf (stderr, "\n  %s: %s\n", prefix, gs_last_error ());
      CU_FAIL ("gamma_flow set failed to read");
      free (prefix);
      return;
    }
  CU_ASSERT_PTR_NOT_NULL_FATAL (s->cal_offset);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s->cal_slope);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s->cal_quad);
  CU_ASSERT_EQUAL (s->cal_offset[0], want->offset);
  CU_ASSERT_EQUAL (s->cal_slope[0], want->slope);
  CU_ASSERT_EQUAL (s->cal_quad[0], want->quad);
  n = s->n_spectra * s->n_channels;
  in = sum (s->counts, n);
  CU_ASSERT_EQUAL_FATAL (
      gs_spectra_rebin (s, &gf_std, GF_N, GS_REBIN_OVERLAP, &r), GS_OK);
  out = sum (s->counts, s->n_spectra * GF_N);
  rel = fabs (out + r.underflow + r.overflow - in) / in;
  printf ("  %s (%zu spectra, cal %g/%g/%g): in %.0f, overlap out %.3f, "
          "under %.3f, over %.3f, |error|/in %.3g (tol 1e-12)\n",
          name, s->n_spectra, want->offset, want->slope, want->quad, in, out,
          r.underflow, r.overflow, rel);
  CU_ASSERT (rel <= 1e-12);
  CU_ASSERT_EQUAL (s->cal_slope[s->n_spectra - 1], gf_std.slope);
  gs_spectra_free (s);
  s = NULL;
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read_labelled (prefix, &s), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_spectra_rebin (s, &gf_std, GF_N, GS_REBIN_LINEAR, &r), GS_OK);
  printf ("  %s linear: out / in = %.6f (slope ratio %.6f)\n", name,
          r.output / r.input, want->slope / gf_std.slope);
  gs_spectra_free (s);
  free (prefix);
}

static void
test_rebin_real_gamma_flow (void)
{
  const char *data = gs_test_data_dir ("rebin/real_gamma_flow");
  char *dir;
  if (!data)
    return;
  dir = gs__path_join (data, "gamma_flow");
  if (!gs_test_file_exists (dir, "Am241_left.counts.npy"))
    printf ("\nSKIP rebin/real_gamma_flow: no %s/Am241_left.counts.npy\n", dir);
  else
    {
      printf ("\n");
      real_set (dir, "Am241_left", &gf_left);
      real_set (dir, "Am241_simulated", &gf_sim);
    }
  free (dir);
}

void gs_test_register_rebin (void);
void
gs_test_register_rebin (void)
{
  CU_pSuite s = CU_add_suite ("rebin", NULL, NULL);
  CU_add_test (s, "identity calibration", test_rebin_identity);
  CU_add_test (s, "half-channel shift", test_rebin_half_shift);
  CU_add_test (s, "doubled slope", test_rebin_double_slope);
  CU_add_test (s, "conservation and peak between gamma_flow calibrations",
               test_rebin_conservation);
  CU_add_test (s, "LINEAR mode as scipy interp1d", test_rebin_linear);
  CU_add_test (s, "bad input refused", test_rebin_bad_input);
  CU_add_test (s, "sets in memory", test_rebin_spectra);
  CU_add_test (s, "real gamma_flow sets", test_rebin_real_gamma_flow);
}
