/* Moving spectra between quadratic energy calibrations.
 *
 * A calibration maps a channel to the energy of its centre,
 * E(ch) = offset + slope*ch + quad*ch^2 (keV); channel ch covers
 * [E(ch - 0.5), E(ch + 0.5)), so a spectrum of n channels has the n + 1
 * edges E(-0.5), E(0.5), ..., E(n - 0.5).  A calibration is valid for n
 * channels when offset, slope, quad and every edge are finite and every
 * edge lies above the one before (slope + 2*quad*ch > 0 for ch = 0..n-1,
 * checked on the computed edges).
 *
 * Two modes:
 *   GS_REBIN_OVERLAP (default) conserves counts: each source channel's
 *     counts are spread uniformly in energy over its interval and shared
 *     among target channels by the length of the overlap.  Counts that
 *     fall below the target grid's first edge or above its last edge are
 *     NOT put into the end channels: they are dropped and reported as
 *     underflow and overflow, so that
 *     sum(dst) + underflow + overflow = sum(src) to rounding.
 *   GS_REBIN_LINEAR is gamma_flow's preprocessing (gamma_flow-spec.md D2):
 *     the counts per channel are interpolated linearly at the target
 *     channel centres from the (E_src(ch), counts[ch]) pairs, exactly as
 *     scipy's interp1d(kind="linear", bounds_error=False, fill_value=0)
 *     does; target centres outside [E_src(0), E_src(n_src - 1)] get 0 and
 *     negative results (rounding) become 1e-6.  It does NOT conserve
 *     counts: with a different slope the total changes by about the slope
 *     ratio, and nothing is reported as under- or overflow.
 *
 * All functions validate everything before writing any output: on error
 * the outputs are left untouched and gs_last_error () says what and
 * where. */
#ifndef GSPEC_REBIN_H
#define GSPEC_REBIN_H

#include <stddef.h>

#include "gspec/spectra.h"

#ifdef __cplusplus
extern "C"
{
#endif

  /* E(ch) = offset + slope*ch + quad*ch^2 in keV, ch the channel index. */
  typedef struct gs_calib
  {
    double offset;
    double slope;
    double quad;
  } gs_calib;

  typedef enum gs_rebin_mode
  {
    GS_REBIN_OVERLAP = 0, /* count-conserving overlap of channel intervals */
    GS_REBIN_LINEAR = 1   /* gamma_flow's interp1d of counts per channel */
  } gs_rebin_mode;

  /* Totals over everything one call rebinned.  underflow and overflow are
   * the counts dropped below the first and above the last target edge
   * (always 0 in LINEAR mode); input and output are sum(src) and sum(dst).
   * In OVERLAP mode input = output + underflow + overflow to rounding. */
  typedef struct gs_rebin_report
  {
    double underflow;
    double overflow;
    double input;
    double output;
  } gs_rebin_report;

  /* The energy (keV) of position x in channel units under c: x = ch for a
   * channel centre, ch - 0.5 for its lower edge.  No checks. */
  double gs_calib_energy (const gs_calib *c, double x);

  /* GS_OK when c is finite and strictly increasing over the n_channels + 1
   * edges; otherwise GS_EINVAL with a message that gives the calibration
   * and the first channel whose upper edge is not above its lower edge.
   * n_channels 0 and NULL are GS_EINVAL. */
  int gs_calib_check (const gs_calib *c, size_t n_channels);

  /* Puts the n_src counts of src, calibrated by `from`, onto the n_dst
   * channels of dst, calibrated by `to`.  dst is caller-owned, is
   * overwritten whole and must not overlap src.  src must be finite and
   * non-negative (GS_EBADDATA naming the channel otherwise); both
   * calibrations must pass gs_calib_check (GS_EINVAL naming "source" or
   * "target").  LINEAR mode needs n_src >= 2.  report may be NULL; when
   * given it is overwritten with this call's totals.  Runs in
   * O(n_src + n_dst) time and allocates nothing. */
  int gs_rebin (const double *src, size_t n_src, const gs_calib *from,
                double *dst, size_t n_dst, const gs_calib *to,
                gs_rebin_mode mode, gs_rebin_report *report);

  /* Rebins every spectrum of s, each from its own calibration
   * (cal_offset/cal_slope/cal_quad; a NULL cal_quad counts as 0), onto
   * `to` with n_dst channels, in place: s->counts is replaced by a new
   * n_spectra x n_dst matrix, s->n_channels becomes n_dst and every
   * spectrum's calibration becomes `to`.  Labels, truth and meta columns
   * are kept as they are (truth totals are not adjusted for dropped
   * counts).  A set without calibration is GS_EINVAL; an error in one
   * spectrum is reported with its row.  On error s is unchanged.  report
   * may be NULL; when given it holds the totals over all spectra. */
  int gs_spectra_rebin (gs_spectra *s, const gs_calib *to, size_t n_dst,
                        gs_rebin_mode mode, gs_rebin_report *report);

#ifdef __cplusplus
}
#endif
#endif
