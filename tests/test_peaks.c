/* Peak-search metrics on hand-counted cases (matching in a relative energy
 * window, best-F1 point, AP, ties, nearest-peak matching, empty inputs,
 * bad input) and the FWHM model against its formula written out. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/peaks.h"
#include "gspec/status.h"
#include "test_util.h"

static gs_peak
pk (double centre, double conf)
{
  gs_peak p;
  memset (&p, 0, sizeof p);
  p.centre_kev = centre;
  p.left_kev = centre - 5;
  p.right_kev = centre + 5;
  p.confidence = conf;
  p.component = -1;
  return p;
}

static void
test_fwhm (void)
{
  gs_fwhm_model m;
  double e = 0.662, want;
  gs_fwhm_model_nai (&m);
  want = 1e3 * (-0.0067 + 0.0612 * sqrt (e - 0.0451 * e * e));
  CU_ASSERT_DOUBLE_EQUAL (gs_fwhm_kev (&m, 662.0), want, 1e-12);
  /* About 6.4 % at 662 keV: a NaI(Tl) detector. */
  CU_ASSERT (want / 662.0 > 0.06 && want / 662.0 < 0.07);
  CU_ASSERT (isnan (gs_fwhm_kev (&m, 0.0)));
  CU_ASSERT (isnan (gs_fwhm_kev (&m, -5.0)));
  /* Below ~12 keV the model's FWHM is not positive. */
  CU_ASSERT (isnan (gs_fwhm_kev (&m, 5.0)));
}

/* Two spectra, 4 true peaks, 7 detections (see the comments). */
static void
test_hand_case (void)
{
  gs_peak ta[3], tb[1], da[5], db[2];
  gs_peak_list t[2], d[2];
  gs_peak_metrics m;
  gs_pr_point *pr = NULL;
  size_t n_pr = 0;
  ta[0] = pk (100, 1);
  ta[1] = pk (500, 1);
  ta[2] = pk (1000, 1);
  tb[0] = pk (662, 1);
  da[0] = pk (102, 0.9);  /* 2 keV from 100: inside 2 % -> TP */
  da[1] = pk (505, 0.8);  /* 5 of 10 keV -> TP */
  da[2] = pk (700, 0.7);  /* nothing near -> FP */
  da[3] = pk (1030, 0.6); /* 30 > 20 keV -> FP */
  da[4] = pk (99, 0.5);   /* 100 already taken -> FP */
  db[0] = pk (660, 0.95); /* TP */
  db[1] = pk (661, 0.4);  /* duplicate -> FP */
  t[0].peaks = ta;
  t[0].n = 3;
  t[1].peaks = tb;
  t[1].n = 1;
  d[0].peaks = da;
  d[0].n = 5;
  d[1].peaks = db;
  d[1].n = 2;
  CU_ASSERT_EQUAL_FATAL (gs_peaks_evaluate (2, t, d, 0.02, &m, &pr, &n_pr),
                         GS_OK);
  /* Sorted: .95 T, .9 T, .8 T, .7 F, .6 F, .5 F, .4 F.  Best F1 at .8:
   * P = 3/3, R = 3/4, F1 = 6/7. */
  CU_ASSERT_DOUBLE_EQUAL (m.f1, 6.0 / 7.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (m.precision, 1.0, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (m.recall, 0.75, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (m.best_confidence, 0.8, 0.0);
  CU_ASSERT_EQUAL (m.tp, 3);
  CU_ASSERT_EQUAL (m.fp, 0);
  CU_ASSERT_EQUAL (m.n_true, 4);
  CU_ASSERT_EQUAL (m.n_detections, 7);
  /* AP: recall .25, .5, .75 each at precision 1. */
  CU_ASSERT_DOUBLE_EQUAL (m.ap, 0.75, 1e-15);
  CU_ASSERT_EQUAL_FATAL (n_pr, 7);
  CU_ASSERT_DOUBLE_EQUAL (pr[6].precision, 3.0 / 7.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (pr[3].precision, 0.75, 1e-15);
  free (pr);
  /* A window of 0.5 % keeps only the exact-ish ones: 102 is 2 % away
   * (miss), 505 is 1 % (miss), 660 is 0.3 % (hit), and 99 now takes 100
   * (1 %: miss).  One TP. */
  CU_ASSERT_EQUAL (gs_peaks_evaluate (2, t, d, 0.005, &m, NULL, NULL), GS_OK);
  CU_ASSERT_EQUAL (m.tp, 1);
  CU_ASSERT_DOUBLE_EQUAL (m.best_confidence, 0.95, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (m.ap, 0.25, 1e-15);
}

/* Ties share one point; matching takes the nearest true peak; the AP
 * uses the best precision at equal or higher recall. */
static void
test_ties_nearest (void)
{
  gs_peak tr[2], de[3];
  gs_peak_list t, d;
  gs_peak_metrics m;
  gs_pr_point *pr = NULL;
  size_t n_pr = 0;
  tr[0] = pk (100.0, 1);
  tr[1] = pk (101.5, 1);
  de[0] = pk (101.0, 0.9); /* nearer to 101.5 (0.5) than to 100 (1.0) */
  de[1] = pk (100.2, 0.5); /* then takes 100 */
  de[2] = pk (300.0, 0.5); /* FP at the same confidence */
  t.peaks = tr;
  t.n = 2;
  d.peaks = de;
  d.n = 3;
  CU_ASSERT_EQUAL_FATAL (gs_peaks_evaluate (1, &t, &d, 0.02, &m, &pr, &n_pr),
                         GS_OK);
  /* Points: .9 -> (R .5, P 1); .5 -> (R 1, P 2/3). */
  CU_ASSERT_EQUAL_FATAL (n_pr, 2);
  CU_ASSERT_DOUBLE_EQUAL (pr[1].recall, 1.0, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (pr[1].precision, 2.0 / 3.0, 1e-15);
  /* F1: .9 -> 2/3; .5 -> 0.8.  Best at .5. */
  CU_ASSERT_DOUBLE_EQUAL (m.f1, 0.8, 1e-15);
  CU_ASSERT_EQUAL (m.tp, 2);
  CU_ASSERT_EQUAL (m.fp, 1);
  /* AP = .5 x 1 + .5 x 2/3. */
  CU_ASSERT_DOUBLE_EQUAL (m.ap, 0.5 + 1.0 / 3.0, 1e-15);
  free (pr);
}

static void
test_empty_and_bad (void)
{
  gs_peak tr[1], de[1];
  gs_peak_list t, d, none;
  gs_peak_metrics m;
  tr[0] = pk (662, 1);
  t.peaks = tr;
  t.n = 1;
  none.peaks = NULL;
  none.n = 0;
  /* No detection: zeros. */
  CU_ASSERT_EQUAL (gs_peaks_evaluate (1, &t, &none, 0.02, &m, NULL, NULL),
                   GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (m.f1, 0.0, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (m.ap, 0.0, 0.0);
  CU_ASSERT (isnan (m.best_confidence));
  /* No true peak: refused. */
  de[0] = pk (662, 0.5);
  d.peaks = de;
  d.n = 1;
  CU_ASSERT_EQUAL (gs_peaks_evaluate (1, &none, &d, 0.02, &m, NULL, NULL),
                   GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "no true peak");
  /* Non-finite confidence: refused, naming it. */
  de[0].confidence = NAN;
  CU_ASSERT_EQUAL (gs_peaks_evaluate (1, &t, &d, 0.02, &m, NULL, NULL),
                   GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "detection 0 of spectrum 0");
  de[0].confidence = 0.5;
  CU_ASSERT_EQUAL (gs_peaks_evaluate (1, &t, &d, -0.1, &m, NULL, NULL),
                   GS_EINVAL);
  CU_ASSERT_EQUAL (gs_peaks_evaluate (1, &t, &d, 0.02, NULL, NULL, NULL),
                   GS_EINVAL);
}

void gs_test_register_peaks (void);
void
gs_test_register_peaks (void)
{
  CU_pSuite s = CU_add_suite ("peaks", NULL, NULL);
  CU_add_test (s, "FWHM model", test_fwhm);
  CU_add_test (s, "hand-counted detections", test_hand_case);
  CU_add_test (s, "ties and nearest matching", test_ties_nearest);
  CU_add_test (s, "empty and bad input", test_empty_and_bad);
}
