/* Rebinning between quadratic energy calibrations (see gspec/rebin.h).
 *
 * Both modes are one merge-like sweep over two increasing sequences
 * (source and target edges, or source and target centres) with one index
 * each, so the work is O(n_src + n_dst).  Every edge or centre is
 * computed once, which keeps the sweep consistent with itself. */
#include "gspec/rebin.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "gspec/status.h"

/* gamma_flow's replacement for negative interpolated counts. */
#define GS__REBIN_NEG_FILL 1e-6

double
gs_calib_energy (const gs_calib *c, double x)
{
  return c->offset + x * (c->slope + c->quad * x);
}

/* gs_calib_check with `role` ("calibration", "source calibration", ...)
 * naming c in the message. */
static int
calib_check_named (const gs_calib *c, size_t n, const char *role)
{
  double lo, hi;
  size_t k;
  if (!c)
    return gs_error (GS_EINVAL, "%s is NULL; pass a gs_calib", role);
  if (n == 0)
    return gs_error (GS_EINVAL,
                     "%s checked over 0 channels; a spectrum needs at least "
                     "one channel",
                     role);
  if (!isfinite (c->offset) || !isfinite (c->slope) || !isfinite (c->quad))
    return gs_error (GS_EINVAL,
                     "%s E(ch) = %g + %g*ch + %g*ch^2 keV is not finite; "
                     "give finite offset, slope and quad",
                     role, c->offset, c->slope, c->quad);
  lo = gs_calib_energy (c, -0.5);
  if (!isfinite (lo))
    return gs_error (GS_EINVAL,
                     "%s E(ch) = %g + %g*ch + %g*ch^2 keV overflows at the "
                     "lower edge of channel 0",
                     role, c->offset, c->slope, c->quad);
  for (k = 0; k < n; k++)
    {
      hi = gs_calib_energy (c, (double)k + 0.5);
      if (!isfinite (hi) || !(hi > lo))
        return gs_error (
            GS_EINVAL,
            "%s E(ch) = %g + %g*ch + %g*ch^2 keV is not increasing at "
            "channel %zu of %zu: its edges are %.17g and %.17g keV "
            "(slope + 2*quad*ch = %g); energies must rise over all "
            "channels, check the signs of slope and quad",
            role, c->offset, c->slope, c->quad, k, n, lo, hi,
            c->slope + 2.0 * c->quad * (double)k);
      lo = hi;
    }
  return GS_OK;
}

int
gs_calib_check (const gs_calib *c, size_t n_channels)
{
  return calib_check_named (c, n_channels, "calibration");
}

/* Counts shared by overlap length; see the header for the contract. */
static void
rebin_overlap (const double *src, size_t n_src, const gs_calib *from,
               double *dst, size_t n_dst, const gs_calib *to,
               gs_rebin_report *r)
{
  size_t i, j = 0;
  double t_first = gs_calib_energy (to, -0.5);
  double t_hi = gs_calib_energy (to, 0.5);
  double s_lo = gs_calib_energy (from, -0.5);
  for (i = 0; i < n_dst; i++)
    dst[i] = 0.0;
  for (i = 0; i < n_src; i++)
    {
      double s_hi = gs_calib_energy (from, (double)i + 0.5);
      double w = s_hi - s_lo, c = src[i], pos = s_lo;
      /* Fractions are (piece length) / w so that a piece covering the
       * whole channel gets exactly c. */
      if (pos < t_first)
        {
          double e = s_hi < t_first ? s_hi : t_first;
          r->underflow += c * ((e - pos) / w);
          pos = e;
        }
      while (pos < s_hi && j < n_dst)
        {
          double e;
          if (t_hi <= pos)
            {
              j++;
              if (j < n_dst)
                t_hi = gs_calib_energy (to, (double)j + 0.5);
              continue;
            }
          e = s_hi < t_hi ? s_hi : t_hi;
          dst[j] += c * ((e - pos) / w);
          pos = e;
        }
      if (pos < s_hi)
        r->overflow += c * ((s_hi - pos) / w);
      s_lo = s_hi;
    }
}

/* scipy interp1d(kind="linear", bounds_error=False, fill_value=0) at the
 * target centres, then negatives -> 1e-6.  Same operations as scipy:
 * index = searchsorted(x, v, side="left") clipped to [1, n-1], then
 * (y_hi - y_lo) / (x_hi - x_lo) * (v - x_lo) + y_lo. */
static void
rebin_linear (const double *src, size_t n_src, const gs_calib *from,
              double *dst, size_t n_dst, const gs_calib *to)
{
  size_t i = 1, j;
  double x_first = gs_calib_energy (from, 0.0);
  double x_last = gs_calib_energy (from, (double)(n_src - 1));
  double x_lo = x_first, x_hi = gs_calib_energy (from, 1.0);
  for (j = 0; j < n_dst; j++)
    {
      double v = gs_calib_energy (to, (double)j), y;
      if (v < x_first || v > x_last)
        {
          dst[j] = 0.0;
          continue;
        }
      while (x_hi < v && i < n_src - 1)
        {
          i++;
          x_lo = x_hi;
          x_hi = gs_calib_energy (from, (double)i);
        }
      y = (src[i] - src[i - 1]) / (x_hi - x_lo) * (v - x_lo) + src[i - 1];
      dst[j] = y < 0.0 ? GS__REBIN_NEG_FILL : y;
    }
}

int
gs_rebin (const double *src, size_t n_src, const gs_calib *from, double *dst,
          size_t n_dst, const gs_calib *to, gs_rebin_mode mode,
          gs_rebin_report *report)
{
  gs_rebin_report r = { 0.0, 0.0, 0.0, 0.0 };
  size_t i;
  int rc;
  if (!src || !dst)
    return gs_error (GS_EINVAL,
                     "rebin: NULL %s counts; pass arrays of "
                     "n_src and n_dst doubles",
                     !src ? "source" : "target");
  if (n_src == 0 || n_dst == 0)
    return gs_error (GS_EINVAL,
                     "rebin: %s spectrum has 0 channels; both need at least "
                     "one",
                     n_src == 0 ? "source" : "target");
  if (mode != GS_REBIN_OVERLAP && mode != GS_REBIN_LINEAR)
    return gs_error (GS_EINVAL,
                     "rebin: unknown mode %d; use GS_REBIN_OVERLAP (0) or "
                     "GS_REBIN_LINEAR (1)",
                     (int)mode);
  if (mode == GS_REBIN_LINEAR && n_src < 2)
    return gs_error (GS_EINVAL,
                     "rebin: LINEAR mode interpolates between channels and "
                     "needs at least 2 source channels, got %zu; use "
                     "GS_REBIN_OVERLAP",
                     n_src);
  if ((rc = calib_check_named (from, n_src, "rebin: source calibration")))
    return rc;
  if ((rc = calib_check_named (to, n_dst, "rebin: target calibration")))
    return rc;
  for (i = 0; i < n_src; i++)
    {
      if (!isfinite (src[i]) || src[i] < 0.0)
        return gs_error (GS_EBADDATA,
                         "rebin: source count at channel %zu is %g; counts "
                         "must be finite and non-negative (drop or repair "
                         "the spectrum first)",
                         i, src[i]);
      r.input += src[i];
    }
  if (mode == GS_REBIN_OVERLAP)
    rebin_overlap (src, n_src, from, dst, n_dst, to, &r);
  else
    rebin_linear (src, n_src, from, dst, n_dst, to);
  for (i = 0; i < n_dst; i++)
    r.output += dst[i];
  if (report)
    *report = r;
  return GS_OK;
}

int
gs_spectra_rebin (gs_spectra *s, const gs_calib *to, size_t n_dst,
                  gs_rebin_mode mode, gs_rebin_report *report)
{
  gs_rebin_report total = { 0.0, 0.0, 0.0, 0.0 };
  double *counts, *quad = NULL;
  const char *where;
  size_t r;
  int rc;
  if (!s)
    return gs_error (GS_EINVAL, "rebin: NULL spectra");
  where = s->source ? s->source : "spectra in memory";
  if (!s->cal_offset || !s->cal_slope)
    return gs_error (GS_EINVAL,
                     "rebin: '%s' carry no energy calibration; give the meta "
                     "file cal_offset_keV and cal_slope_keV columns (or set "
                     "cal_offset/cal_slope) before rebinning",
                     where);
  if (n_dst == 0)
    return gs_error (GS_EINVAL,
                     "rebin: target of 0 channels for '%s'; give n_dst >= 1",
                     where);
  if ((rc = calib_check_named (to, n_dst, "rebin: target calibration")))
    return rc;
  if (s->n_spectra > SIZE_MAX / sizeof (double) / n_dst)
    return gs_error (GS_ENOMEM,
                     "rebin: %zu spectra x %zu channels overflow the address "
                     "space",
                     s->n_spectra, n_dst);
  counts = malloc ((s->n_spectra ? s->n_spectra : 1) * n_dst * sizeof (double));
  if (!s->cal_quad)
    quad = calloc (s->n_spectra ? s->n_spectra : 1, sizeof (double));
  if (!counts || (!s->cal_quad && !quad))
    {
      free (counts);
      free (quad);
      return gs_error (GS_ENOMEM, "rebin: out of memory for %zu x %zu counts",
                       s->n_spectra, n_dst);
    }
  for (r = 0; r < s->n_spectra; r++)
    {
      gs_rebin_report one;
      gs_calib from;
      from.offset = s->cal_offset[r];
      from.slope = s->cal_slope[r];
      from.quad = s->cal_quad ? s->cal_quad[r] : 0.0;
      rc = gs_rebin (s->counts + r * s->n_channels, s->n_channels, &from,
                     counts + r * n_dst, n_dst, to, mode, &one);
      if (rc)
        {
          free (counts);
          free (quad);
          return gs_error_prefix (rc, "'%s', spectrum %zu", where, r);
        }
      total.underflow += one.underflow;
      total.overflow += one.overflow;
      total.input += one.input;
      total.output += one.output;
    }
  free (s->counts);
  s->counts = counts;
  s->n_channels = n_dst;
  if (quad)
    s->cal_quad = quad;
  for (r = 0; r < s->n_spectra; r++)
    {
      s->cal_offset[r] = to->offset;
      s->cal_slope[r] = to->slope;
      s->cal_quad[r] = to->quad;
    }
  if (report)
    *report = total;
  return GS_OK;
}
