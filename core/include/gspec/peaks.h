/* Full-energy peak search: the detector FWHM model of the YOLOSpecNN
 * paper and its peak-search metrics (zhang-yolospecnn-peak-search:
 * precision, recall and F1 at the best confidence, average precision; a
 * detection matches a true peak when its centre lies within a relative
 * energy window of the peak's energy, 2 % in the paper).  Part of the
 * SDK: peak-search plugins tune on validation data with these metrics;
 * true peaks come from gs_dataset.peaks (gspec/plugin.h). */
#ifndef GSPEC_PEAKS_H
#define GSPEC_PEAKS_H

#include <stddef.h>

#include "gspec/library.h"
#include "gspec/plugin.h"

#ifdef __cplusplus
extern "C"
{
#endif

  /* FWHM(E) = c1 + c2 sqrt(E + c3 E^2), E and FWHM in MeV (paper eq. 10;
   * its NaI(Tl) values c1 = -0.0067, c2 = 0.0612, c3 = -0.0451). */
  typedef struct gs_fwhm_model
  {
    double c1, c2, c3;
  } gs_fwhm_model;

  /* The paper's NaI(Tl) coefficients. */
  void gs_fwhm_model_nai (gs_fwhm_model *m);
  /* FWHM in keV at e_kev; NAN where e_kev <= 0 or the model is not
   * positive there. */
  double gs_fwhm_kev (const gs_fwhm_model *m, double e_kev);

  /* One spectrum's peaks (true ones, or detections with confidences). */
  typedef struct gs_peak_list
  {
    const gs_peak *peaks;
    size_t n;
  } gs_peak_list;

  typedef struct gs_peak_metrics
  {
    double precision, recall, f1; /* at the best-F1 threshold */
    double best_confidence;       /* detections with confidence >= it */
    double ap;                    /* area under the P-R curve */
    size_t n_true, n_detections;  /* over all spectra */
    size_t tp, fp;                /* at the best-F1 threshold */
  } gs_peak_metrics;

  /* One point of the P-R curve. */
  typedef struct gs_pr_point
  {
    double confidence, recall, precision;
  } gs_pr_point;

  /* Matches, spectrum by spectrum, detections (taken by decreasing
   * confidence, ties by increasing centre) to true peaks: a detection
   * matches the unmatched true peak nearest to its centre among those
   * with |centre - true centre| <= window x true centre (window 0.02: the
   * paper's 2 %); detections that match nothing are false positives.
   * Then, over all spectra, every distinct confidence c gives a point
   * (recall, precision) of the detections with confidence >= c; the
   * best-F1 point is reported (ties: the higher confidence) and AP is the
   * area under the curve with precision made monotone (VOC 2010+ all
   * points: sum over recall steps of the highest precision at that
   * recall or above).  No detection at all: precision, recall, F1, AP 0.
   * No true peak: GS_EINVAL.  Confidences and centres must be finite.
   * pr (may be NULL) receives the curve by decreasing confidence: *pr
   * malloc'd, *n_pr points. */
  int gs_peaks_evaluate (size_t n_spectra, const gs_peak_list *truth,
                         const gs_peak_list *det, double window,
                         gs_peak_metrics *out, gs_pr_point **pr, size_t *n_pr);

  /* The matching of gs_peaks_evaluate for one spectrum, restricted to
   * detections with confidence >= min_confidence: matched[j] (n_truth
   * entries) is set to 1 for every true peak that a detection matches, 0
   * otherwise; returns the number of matched peaks (or (size_t)-1 on bad
   * input or memory, with the error set). */
  size_t gs_peaks_match (const gs_peak_list *truth, const gs_peak_list *det,
                         double window, double min_confidence,
                         unsigned char *matched);

  /* ---- Peak-labelled spectra ------------------------------------------
   * The generator of the YOLOSpecNN paper's Table 1 on a library whose
   * full-energy peaks are known (gs_library_embedded_peaks): per
   * spectrum, gross counts log-uniform in [counts_min, counts_max], SNR =
   * C_source / (C_source + C_background) uniform in [snr_min, snr_max]
   * (eq. 13), nuclides_min..nuclides_max distinct nuclides of the library
   * (components 1..K-1) with initial ratios U(ratio_min, ratio_max)
   * normalised (eq. 14), then a Poisson draw of sum_k a_k signature_k
   * with the background (component 0, K-40 included) holding C_background.
   * A line's full-energy peak is a true peak when its expected net counts
   * N reach min_significance sqrt(B + N), B the expected counts of the
   * rest of the spectrum within +- half_width_fwhm FWHM (Currie-like: a
   * peak one could see); lines of one component closer than merge_fwhm
   * FWHM are one peak (counts-weighted energy).  Peaks: centre = energy,
   * left/right = centre -+ half_width_fwhm FWHM, component = the strongest
   * line's.  Everything is drawn from `seed`: the table at creation,
   * spectrum i from its own stream, so spectra come on demand. */
  typedef struct gs_peakset_opts
  {
    size_t n_spectra;
    unsigned long long seed;
    double counts_min, counts_max;  /* gross counts: 1e3, 1e5 */
    double snr_min, snr_max;        /* 0.1, 1 */
    int nuclides_min, nuclides_max; /* 1, 5 */
    double ratio_min, ratio_max;    /* 0.1, 0.5 */
    double min_significance;        /* 3 */
    double half_width_fwhm;         /* 1 */
    double merge_fwhm;              /* 1 */
  } gs_peakset_opts;

  void gs_peakset_opts_init (gs_peakset_opts *o);

  typedef struct gs_peakset gs_peakset;

  /* lib and its peak list must outlive the set. */
  int gs_peakset_create (const gs_library *lib, const gs_photopeak *pk,
                         size_t n_pk, const gs_peakset_opts *o,
                         gs_peakset **out);
  void gs_peakset_free (gs_peakset *s);
  /* The set as a training / evaluation dataset (truth: expected counts
   * per component; peaks: the true peaks). */
  gs_dataset gs_peakset_dataset (gs_peakset *s);
  /* What was drawn for spectrum i (for breakdowns). */
  double gs_peakset_gross (const gs_peakset *s, size_t i);
  double gs_peakset_snr (const gs_peakset *s, size_t i);
  /* True peaks of spectrum i: writes up to max, returns the number in *n
   * (as gs_dataset.peaks). */
  int gs_peakset_peaks (const gs_peakset *s, size_t i, gs_peak *out, size_t max,
                        size_t *n);

#ifdef __cplusplus
}
#endif
#endif
