/* Peak-search metrics on hand-counted cases (matching in a relative energy
 * window, best-F1 point, AP, ties, nearest-peak matching, empty inputs,
 * bad input) and the FWHM model against its formula written out. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/peaks.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

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
  /* Matching alone, at confidence >= 0.8 in spectrum A: 100 and 500
   * keV are found, 1000 keV is not. */
  {
    unsigned char mt[3];
    CU_ASSERT_EQUAL (gs_peaks_match (&t[0], &d[0], 0.02, 0.8, mt), 2);
    CU_ASSERT (mt[0] == 1 && mt[1] == 1 && mt[2] == 0);
    CU_ASSERT_EQUAL (gs_peaks_match (&t[0], &d[0], 0.02, 0.95, mt), 0);
  }
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

/* The paper's six nuclides on the embedded detector model. */
static const char *const yolo_nuclides[6]
    = { "Am241", "Co57", "I131", "Cs134", "Cs137", "Co60" };

static int
embedded_with_peaks (gs_library **lib, gs_photopeak **pk, size_t *n)
{
  gs_embedded_opts eo;
  gs_embedded_opts_init (&eo);
  eo.nuclides = yolo_nuclides;
  eo.n_nuclides = 6;
  return gs_library_embedded_peaks (&eo, lib, pk, n);
}

/* The embedded model's photopeak list against its own signature: the
 * Cs137 662 keV peak's share equals the column's counts around 662 keV
 * above a straight continuum drawn through the sidebands (an estimate
 * that shares no code with the model; 5 %), at the model's FWHM. */
static void
test_embedded_photopeaks (void)
{
  gs_library *lib = NULL;
  gs_photopeak *pk = NULL;
  size_t n = 0, i, c, K;
  long cs = -1;
  double share = 0, fwhm = 0, lo, hi, in = 0, side_l = 0, side_r = 0, w;
  size_t nl = 0, nr = 0, ni = 0;
  CU_ASSERT_EQUAL_FATAL (embedded_with_peaks (&lib, &pk, &n), GS_OK);
  K = lib->n_components;
  cs = gs_library_find (lib, "Cs137");
  CU_ASSERT_FATAL (cs > 0);
  for (i = 0; i < n; i++)
    if (pk[i].component == (size_t)cs && fabs (pk[i].energy_kev - 661.657) < 1)
      {
        share = pk[i].share;
        fwhm = pk[i].fwhm_kev;
      }
  /* The model's resolution: 7 % at 662 keV, scaling as sqrt (E). */
  CU_ASSERT_DOUBLE_EQUAL (fwhm, 0.07 * 662.0 * sqrt (661.657 / 662.0),
                          46.3 * 1e-6);
  CU_ASSERT (share > 0.05 && share < 0.8);
  /* Counts within +- 1.5 FWHM, continuum from the 1 FWHM sidebands. */
  lo = 661.657 - 1.5 * fwhm;
  hi = 661.657 + 1.5 * fwhm;
  w = lib->energy_edges[1] - lib->energy_edges[0];
  for (c = 0; c < lib->n_channels; c++)
    {
      double e = 0.5 * (lib->energy_edges[c] + lib->energy_edges[c + 1]);
      double v = lib->signatures[c * K + (size_t)cs];
      if (e >= lo && e < hi)
        {
          in += v;
          ni++;
        }
      else if (e >= lo - fwhm && e < lo)
        {
          side_l += v;
          nl++;
        }
      else if (e >= hi && e < hi + fwhm)
        {
          side_r += v;
          nr++;
        }
    }
  (void)w;
  {
    double cont
        = 0.5 * (side_l / (double)nl + side_r / (double)nr) * (double)ni;
    double net
        = (in - cont) / erf (1.5 * 2 * sqrt (2 * log (2.0)) / sqrt (2.0));
    printf ("\n  Cs137 662 keV: model share %.4f, sideband estimate %.4f\n",
            share, net);
    CU_ASSERT (fabs (net - share) <= 0.05 * share);
  }
  gs_library_free (lib);
  free (pk);
}

static void
test_peakset (void)
{
  gs_library *lib = NULL;
  gs_photopeak *pk = NULL;
  size_t n_pk = 0, i, k, K, hist[6] = { 0 };
  gs_peakset_opts o;
  gs_peakset *s = NULL;
  gs_dataset d;
  double snr_sum = 0, lg_sum = 0;
  gs_peak peaks[64];
  size_t np;
  long cs;
  CU_ASSERT_EQUAL_FATAL (embedded_with_peaks (&lib, &pk, &n_pk), GS_OK);
  K = lib->n_components;
  cs = gs_library_find (lib, "Cs137");
  gs_peakset_opts_init (&o);
  o.n_spectra = 2000;
  o.seed = 77;
  CU_ASSERT_EQUAL_FATAL (gs_peakset_create (lib, pk, n_pk, &o, &s), GS_OK);
  d = gs_peakset_dataset (s);
  CU_ASSERT_PTR_NOT_NULL (GS_DATASET_PEAKS (&d));
  for (i = 0; i < o.n_spectra; i++)
    {
      double a[16], tot = 0;
      size_t m = 0;
      CU_ASSERT_EQUAL_FATAL (d.truth (d.ctx, i, a), GS_OK);
      for (k = 0; k < K; k++)
        tot += a[k];
      for (k = 1; k < K; k++)
        m += a[k] > 0;
      /* Table 1: counts add up to the gross; background (1 - SNR). */
      CU_ASSERT (fabs (tot - gs_peakset_gross (s, i)) <= 1e-9 * tot);
      CU_ASSERT (fabs (a[0] - (1 - gs_peakset_snr (s, i)) * tot) <= 1e-9 * tot);
      CU_ASSERT (m >= 1 && m <= 5);
      hist[m]++;
      snr_sum += gs_peakset_snr (s, i);
      lg_sum += log10 (gs_peakset_gross (s, i));
    }
  /* Uniform SNR in [0.1, 1] (mean 0.55, se 0.006), log-uniform gross
   * counts (mean log10 4, se 0.013), 1..5 nuclides uniformly (400 each,
   * sd 18). */
  CU_ASSERT (fabs (snr_sum / 2000 - 0.55) < 0.03);
  CU_ASSERT (fabs (lg_sum / 2000 - 4.0) < 0.06);
  for (k = 1; k <= 5; k++)
    CU_ASSERT (hist[k] > 320 && hist[k] < 480);
  /* A spectrum with much Cs137 has a true peak at 662 keV; one without
   * Cs137 has none there. */
  {
    int seen_with = 0, seen_without = 0;
    for (i = 0; i < o.n_spectra; i++)
      {
        double a[16];
        size_t j;
        int at662 = 0;
        d.truth (d.ctx, i, a);
        CU_ASSERT_EQUAL (gs_peakset_peaks (s, i, peaks, 64, &np), GS_OK);
        for (j = 0; j < np && j < 64; j++)
          if (fabs (peaks[j].centre_kev - 661.657) < 2
              && peaks[j].component == (int)cs)
            at662 = 1;
        for (j = 1; j < np && j < 64; j++)
          CU_ASSERT (peaks[j].centre_kev >= peaks[j - 1].centre_kev);
        if (a[cs] > 5000)
          seen_with += at662;
        if (a[cs] == 0)
          seen_without += at662;
        if (a[cs] > 5000)
          CU_ASSERT (at662);
      }
    CU_ASSERT (seen_with > 0);
    CU_ASSERT_EQUAL (seen_without, 0);
  }
  /* Spectra on demand: the same draw twice. */
  {
    double *y1 = malloc (lib->n_channels * sizeof *y1);
    double *y2 = malloc (lib->n_channels * sizeof *y2);
    CU_ASSERT_EQUAL (d.spectrum (d.ctx, 17, y1), GS_OK);
    CU_ASSERT_EQUAL (d.spectrum (d.ctx, 17, y2), GS_OK);
    CU_ASSERT (memcmp (y1, y2, lib->n_channels * sizeof *y1) == 0);
    free (y1);
    free (y2);
  }
  CU_ASSERT_NOT_EQUAL (gs_peakset_peaks (s, 5000, peaks, 64, &np), GS_OK);
  gs_peakset_free (s);
  /* Bad options are refused, naming the range. */
  o.nuclides_max = 7;
  CU_ASSERT_EQUAL (gs_peakset_create (lib, pk, n_pk, &o, &s), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "6 nuclides besides");
  gs_peakset_opts_init (&o);
  o.snr_max = 1.5;
  CU_ASSERT_EQUAL (gs_peakset_create (lib, pk, n_pk, &o, &s), GS_EINVAL);
  gs_library_free (lib);
  free (pk);
}

/* configs/peaks-smoke.yaml end to end: both peak-search methods report,
 * MorPh's tuned F1 is that of a working peak finder, and the numbers are
 * the same at 1 and 2 threads. */
static void
test_peaks_smoke (void)
{
  char *dir = gs_test_tmpdir ();
  char *o1 = gs__path_join (dir, "a"), *o2 = gs__path_join (dir, "b");
  char *m1, *m2;
  const char *f;
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  CU_ASSERT_EQUAL_FATAL (
      gs_test_run_cfg (GSPEC_SOURCE_DIR "/configs/peaks-smoke.yaml", o1, 1, 1),
      GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_test_run_cfg (GSPEC_SOURCE_DIR "/configs/peaks-smoke.yaml", o2, 2, 1),
      GS_OK);
  m1 = gs_test_metrics_of (o1);
  m2 = gs_test_metrics_of (o2);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (m2);
  CU_ASSERT_STRING_EQUAL (m1, m2);
  GS_ASSERT_CONTAINS (m1, "\"peaks\": {\"peaks.morph\": {\"precision\": ");
  GS_ASSERT_CONTAINS (m1, "\"peaks.yolospecnn\": {\"precision\": ");
  f = strstr (m1, "\"peaks.morph\": {\"precision\": ");
  f = f ? strstr (f, "\"f1\": ") : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL (f);
  printf ("\n  peaks-smoke: MorPh F1 %.3f\n", strtod (f + 6, NULL));
  CU_ASSERT (strtod (f + 6, NULL) > 0.4);
  CU_ASSERT (gs_test_file_exists (o1, "tables/peaks_pr.csv"));
  /* gspec train + generate + analyze --model --list: the peaks, listed. */
  {
    char cmd[4096], *out;
    int st;
    snprintf (cmd, sizeof cmd,
              "cd '%s' && G='%s/gspec' && C='%s/configs/peaks-smoke.yaml' "
              "&& $G train $C --method peaks.yolospecnn --out tr --quiet > "
              "tr.log 2>&1 && $G generate $C --out gen > gen.log 2>&1 && $G "
              "analyze --model tr/models/peaks.yolospecnn.gsm --input "
              "gen/spectra/test --list --quiet > list.txt 2>&1",
              dir, GSPEC_BUILD_DIR, GSPEC_SOURCE_DIR);
    st = system (cmd);
    CU_ASSERT_EQUAL (st, 0);
    out = gs_test_slurp (dir, "list.txt");
    GS_ASSERT_CONTAINS (out, "spectrum 0 (labels ");
    GS_ASSERT_CONTAINS (out, "  peak ");
    GS_ASSERT_CONTAINS (out, " keV  [");
    GS_ASSERT_CONTAINS (out, "confidence ");
    free (out);
  }
  free (m1);
  free (m2);
  unsetenv ("GSPEC_PLUGIN_PATH");
  gs_test_rmtree (dir);
  free (o1);
  free (o2);
  free (dir);
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
  CU_add_test (s, "embedded model's photopeaks", test_embedded_photopeaks);
  CU_add_test (s, "peak-labelled spectra (Table 1)", test_peakset);
  CU_add_test (s, "configs/peaks-smoke.yaml, 1 and 2 threads",
               test_peaks_smoke);
}
