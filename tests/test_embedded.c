/* The embedded analytic NaI(Tl) library: invariants, peak positions and
 * widths, Compton edge, background lines, grids, gain shift, steel
 * attenuation and the errors for bad options. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/status.h"
#include "nuclear_data.h"
#include "test_util.h"

void gs_test_register_embedded (void);

/* ---------------------------------------------------------------------- */
/* Helpers.                                                                 */

static gs_library *
build (const gs_embedded_opts *o)
{
  gs_library *lib = NULL;
  int rc = gs_library_embedded (o, &lib);
  if (rc)
    fprintf (stderr, "\n  gs_library_embedded: %s\n", gs_last_error ());
  CU_ASSERT_EQUAL (rc, GS_OK);
  return lib;
}

static gs_library *
build_list (const char *const *names, size_t n, double steel, double alpha)
{
  gs_embedded_opts o;
  gs_embedded_opts_init (&o);
  o.nuclides = names;
  o.n_nuclides = n;
  o.steel_mm = steel;
  o.gain_shift = alpha;
  return build (&o);
}

static double
val (const gs_library *lib, size_t k, size_t j)
{
  return lib->signatures[k * lib->n_components + j];
}

static double
centre (const gs_library *lib, size_t k)
{
  return 0.5 * (lib->energy_edges[k] + lib->energy_edges[k + 1]);
}

/* Channel holding energy e (clamped to the grid). */
static size_t
chan (const gs_library *lib, double e)
{
  size_t k = 0;
  while (k + 1 < lib->n_channels && lib->energy_edges[k + 1] <= e)
    k++;
  return k;
}

/* Channel of the maximum of column j within [lo, hi] keV. */
static size_t
peak_chan (const gs_library *lib, size_t j, double lo, double hi)
{
  size_t k, best = chan (lib, lo);
  for (k = chan (lib, lo); k <= chan (lib, hi); k++)
    if (val (lib, k, j) > val (lib, best, j))
      best = k;
  return best;
}

/* Full width at half maximum (keV) of the peak at channel kp, from the
 * half-maximum crossings interpolated between channel centres. */
static double
measured_fwhm (const gs_library *lib, size_t j, size_t kp)
{
  double half = 0.5 * val (lib, kp, j), left, right, a, b;
  size_t k = kp;
  while (k > 0 && val (lib, k, j) > half)
    k--;
  a = val (lib, k, j);
  b = val (lib, k + 1, j);
  left = centre (lib, k)
         + (half - a) / (b - a) * (centre (lib, k + 1) - centre (lib, k));
  k = kp;
  while (k + 1 < lib->n_channels && val (lib, k, j) > half)
    k++;
  a = val (lib, k - 1, j);
  b = val (lib, k, j);
  right = centre (lib, k - 1)
          + (a - half) / (a - b) * (centre (lib, k) - centre (lib, k - 1));
  return right - left;
}

/* Net area of column j over [lo, hi) keV above a straight line through the
 * means of the 3 channels on either side. */
static double
net_area (const gs_library *lib, size_t j, double lo, double hi)
{
  size_t a = chan (lib, lo), b = chan (lib, hi), k;
  double gross = 0, left = 0, right = 0;
  for (k = a; k < b; k++)
    gross += val (lib, k, j);
  for (k = 1; k <= 3; k++)
    {
      left += val (lib, a - k, j) / 3;
      right += val (lib, b - 1 + k, j) / 3;
    }
  return gross - 0.5 * (left + right) * (double)(b - a);
}

static double
range_sum (const gs_library *lib, size_t j, double lo, double hi)
{
  size_t k;
  double s = 0;
  for (k = 0; k < lib->n_channels; k++)
    if (centre (lib, k) >= lo && centre (lib, k) < hi)
      s += val (lib, k, j);
  return s;
}

/* Log-log interpolation between two NIST iron points (independent of the
 * library's own table). */
static double
nist_fe (double e, double e1, double mu1, double e2, double mu2)
{
  return mu1 * exp (log (e / e1) / log (e2 / e1) * log (mu2 / mu1));
}

/* ---------------------------------------------------------------------- */
/* Tests.                                                                   */

static void
test_defaults (void)
{
  static const char *const expect[]
      = { "background", "Co60",  "Ba133", "Co57", "Cs137",
          "Eu152",      "Am241", "I123",  "I131", "Tc99m" };
  gs_embedded_opts o;
  gs_library *lib;
  size_t j, k;
  gs_embedded_opts_init (&o);
  CU_ASSERT_EQUAL (o.n_channels, 1024);
  CU_ASSERT_DOUBLE_EQUAL (o.offset_kev, 20.0, 0);
  CU_ASSERT_DOUBLE_EQUAL (o.kev_per_channel, 2.0, 0);
  CU_ASSERT_DOUBLE_EQUAL (o.fwhm_662, 0.07, 0);
  CU_ASSERT_DOUBLE_EQUAL (o.fwhm_exponent, 0.5, 0);
  CU_ASSERT_PTR_NULL (o.nuclides);
  CU_ASSERT_DOUBLE_EQUAL (o.steel_mm, 0.0, 0);
  CU_ASSERT_DOUBLE_EQUAL (o.gain_shift, 0.0, 0);
  lib = build (&o);
  if (!lib)
    return;
  CU_ASSERT_EQUAL (lib->n_channels, 1024);
  CU_ASSERT_EQUAL (lib->n_components, 10);
  for (j = 0; j < 10 && j < lib->n_components; j++)
    CU_ASSERT_STRING_EQUAL (lib->names[j], expect[j]);
  CU_ASSERT_DOUBLE_EQUAL (lib->energy_edges[0], 20.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (lib->energy_edges[1024], 2068.0, 1e-9);
  CU_ASSERT_PTR_NOT_NULL (lib->description);
  CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
  for (j = 0; j < lib->n_components; j++)
    {
      double s = 0;
      int ok = 1;
      for (k = 0; k < lib->n_channels; k++)
        {
          ok &= isfinite (val (lib, k, j)) && val (lib, k, j) >= 0;
          s += val (lib, k, j);
        }
      CU_ASSERT (ok);
      CU_ASSERT_DOUBLE_EQUAL (s, 1.0, 1e-9);
    }
  gs_library_free (lib);
}

static void
test_deterministic (void)
{
  gs_embedded_opts o;
  gs_library *a, *b;
  gs_embedded_opts_init (&o);
  a = build (&o);
  b = build (&o);
  if (a && b)
    CU_ASSERT (memcmp (a->signatures, b->signatures,
                       a->n_channels * a->n_components * sizeof (double))
               == 0);
  gs_library_free (a);
  gs_library_free (b);
}

static void
test_known_nuclides (void)
{
  static const char *const needed[] = {
    "Co60", "Ba133", "Co57",  "Cs137", "Eu152", "Am241",
    "I123", "I131",  "Tc99m", "Cs134", "Y88",   "Bi207",
    "Ga67", "Na22",  "Co58",  "K40",   "U238",  "Th232",
  };
  const char *const *names = gs_embedded_nuclides ();
  size_t n = 0, i, j;
  gs_library *lib;
  CU_ASSERT_PTR_NOT_NULL_FATAL (names);
  while (names[n])
    n++;
  for (i = 0; i < sizeof needed / sizeof needed[0]; i++)
    {
      int found = 0;
      for (j = 0; j < n; j++)
        found |= strcmp (names[j], needed[i]) == 0;
      if (!found)
        fprintf (stderr, "\n  missing nuclide %s\n", needed[i]);
      CU_ASSERT (found);
    }
  /* Every known name builds, all in one library. */
  lib = build_list (names, n, 0, 0);
  if (lib)
    {
      CU_ASSERT_EQUAL (lib->n_components, n + 1);
      CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
    }
  gs_library_free (lib);
}

/* A line of nuclide `name` at energy e (within 0.01 keV); its intensity in
 * %, or -1. */
static double
line_pct (const char *name, double e)
{
  const gs__nuclide *nuc = gs__nuclide_find (name);
  size_t i;
  if (!nuc)
    return -1;
  for (i = 0; i < nuc->n_lines; i++)
    if (fabs (nuc->lines[i].energy_kev - e) < 0.01)
      return nuc->lines[i].intensity_pct;
  return -1;
}

static void
test_line_data (void)
{
  size_t i, l, n = 0;
  while (gs__nuclide_names[n])
    n++;
  CU_ASSERT_EQUAL (n, gs__nuclide_count ());
  for (i = 0; i < gs__nuclide_count (); i++)
    {
      const gs__nuclide *nuc = gs__nuclide_at (i);
      int ok = nuc->n_lines > 0;
      CU_ASSERT_STRING_EQUAL (nuc->name, gs__nuclide_names[i]);
      CU_ASSERT_PTR_EQUAL (gs__nuclide_find (nuc->name), nuc);
      for (l = 0; l < nuc->n_lines; l++)
        ok &= nuc->lines[l].energy_kev >= 25 && nuc->lines[l].energy_kev < 3000
              && nuc->lines[l].intensity_pct > 0
              && nuc->lines[l].intensity_pct <= 200;
      CU_ASSERT (ok);
    }
  /* Golden values (ENSDF / DDEP). */
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Cs137", 661.657), 85.10, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Co60", 1173.228), 99.85, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Co60", 1332.492), 99.98, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Am241", 59.541), 35.92, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Ba133", 356.013), 62.05, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Co57", 122.061), 85.60, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Eu152", 1408.013), 20.85, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("I131", 364.490), 81.5, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Tc99m", 140.511), 89.0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("I123", 158.97), 83.3, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("K40", 1460.822), 10.66, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Th232", 2614.511), 35.85, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("U238", 609.312), 45.49, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (line_pct ("Cs134", 604.721), 97.62, 1e-9);
  /* NIST attenuation spot checks (cm^2/g). */
  CU_ASSERT_DOUBLE_EQUAL (gs__fe_mu_total (100), 0.3717, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (gs__nai_mu_total (40), 18.771, 1e-9);
  CU_ASSERT (gs__nai_mu_total (33.0) < gs__nai_mu_total (33.2) / 4);
  CU_ASSERT_DOUBLE_EQUAL (gs__nai_mu_pair (1000), 0, 0);
}

static void
test_cs137_peak_and_fwhm (void)
{
  static const double fwhm[] = { 0.07, 0.05, 0.09 };
  static const char *const cs[] = { "Cs137" };
  size_t i;
  for (i = 0; i < sizeof fwhm / sizeof fwhm[0]; i++)
    {
      gs_embedded_opts o;
      gs_library *lib;
      size_t kp;
      double w, want = fwhm[i] * 661.657;
      gs_embedded_opts_init (&o);
      o.nuclides = cs;
      o.n_nuclides = 1;
      o.fwhm_662 = fwhm[i];
      lib = build (&o);
      if (!lib)
        continue;
      kp = peak_chan (lib, 1, 100, 2000);
      CU_ASSERT (lib->energy_edges[kp] <= 661.657
                 && 661.657 < lib->energy_edges[kp + 1]);
      w = measured_fwhm (lib, 1, kp);
      if (fabs (w - want) > 0.05 * want)
        fprintf (stderr, "\n  FWHM %.2f keV, configured %.2f keV\n", w, want);
      /* The brief asks for 10 %; the model gives about 1 % (the valley
       * under the peak widens it slightly), so hold it to 5 %. */
      CU_ASSERT (fabs (w - want) <= 0.05 * want);
      gs_library_free (lib);
    }
}

static void
test_cs137_compton_edge (void)
{
  static const char *const cs[] = { "Cs137" };
  gs_library *lib = build_list (cs, 1, 0, 0);
  double below, above, steepest = 0, e_steep = 0;
  size_t k;
  if (!lib)
    return;
  /* Ec = 661.657 * 2k/(1+2k) = 477.3 keV: the continuum drops across it. */
  below = range_sum (lib, 1, 420, 460);
  above = range_sum (lib, 1, 500, 540);
  CU_ASSERT (below > 2.5 * above);
  for (k = chan (lib, 400); k < chan (lib, 560); k++)
    {
      double d = val (lib, k, 1) - val (lib, k + 1, 1);
      if (d > steepest)
        {
          steepest = d;
          e_steep = lib->energy_edges[k + 1];
        }
    }
  CU_ASSERT (fabs (e_steep - 477.3) < 15);
  /* Backscatter hump near 662/(1+2*1.295) = 184 keV. */
  CU_ASSERT (range_sum (lib, 1, 170, 200) > range_sum (lib, 1, 120, 150));
  /* Ba K X-rays near 32 keV stand out of the continuum. */
  CU_ASSERT (range_sum (lib, 1, 28, 38) > 3 * range_sum (lib, 1, 60, 70));
  gs_library_free (lib);
}

static void
test_co60_two_peaks (void)
{
  static const char *const co[] = { "Co60" };
  gs_library *lib = build_list (co, 1, 0, 0);
  size_t k1, k2, k;
  double valley = 1e300;
  if (!lib)
    return;
  k1 = peak_chan (lib, 1, 1120, 1230);
  k2 = peak_chan (lib, 1, 1280, 1400);
  CU_ASSERT (fabs (centre (lib, k1) - 1173.2) <= 2.0);
  CU_ASSERT (fabs (centre (lib, k2) - 1332.5) <= 2.0);
  for (k = k1; k <= k2; k++)
    valley = fmin (valley, val (lib, k, 1));
  CU_ASSERT (valley < 0.5 * val (lib, k1, 1));
  CU_ASSERT (valley < 0.5 * val (lib, k2, 1));
  /* Nothing above the sum of both lines plus the resolution. */
  CU_ASSERT (range_sum (lib, 1, 1450, 2068) < 1e-3);
  gs_library_free (lib);
}

static void
test_background (void)
{
  gs_embedded_opts o;
  gs_library *lib;
  size_t kp;
  gs_embedded_opts_init (&o);
  lib = build (&o);
  if (!lib)
    return;
  CU_ASSERT_STRING_EQUAL (lib->names[0], "background");
  kp = peak_chan (lib, 0, 1380, 1540);
  CU_ASSERT (fabs (centre (lib, kp) - 1460.8) <= 4.0);
  CU_ASSERT (val (lib, kp, 0) > 1.5 * val (lib, chan (lib, 1540), 0));
  /* Tl-208 583 + Bi-214 609 and Ac-228 911 keV are visible too. */
  CU_ASSERT (net_area (lib, 0, 560, 640) > 0);
  CU_ASSERT (net_area (lib, 0, 880, 940) > 0);
  /* A falling continuum: much more at 100-300 keV than at 1-2 MeV. */
  CU_ASSERT (range_sum (lib, 0, 100, 300)
             > 10 * range_sum (lib, 0, 1600, 1800));
  gs_library_free (lib);
}

static void
test_custom_grid (void)
{
  static const char *const names[] = { "Cs137", "Am241", "Co60" };
  gs_embedded_opts o;
  gs_library *lib;
  size_t j;
  gs_embedded_opts_init (&o);
  o.n_channels = 512;
  o.offset_kev = 0;
  o.kev_per_channel = 3;
  o.nuclides = names;
  o.n_nuclides = 3;
  lib = build (&o);
  if (!lib)
    return;
  CU_ASSERT_EQUAL (lib->n_channels, 512);
  CU_ASSERT_EQUAL (lib->n_components, 4);
  CU_ASSERT_DOUBLE_EQUAL (lib->energy_edges[0], 0.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (lib->energy_edges[512], 1536.0, 1e-9);
  CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
  for (j = 0; j < 4; j++)
    {
      double s = range_sum (lib, j, -1, 1e9);
      CU_ASSERT_DOUBLE_EQUAL (s, 1.0, 1e-9);
    }
  CU_ASSERT_EQUAL (peak_chan (lib, 1, 300, 1500), chan (lib, 661.657));
  CU_ASSERT_EQUAL (peak_chan (lib, 2, 45, 100), chan (lib, 59.541));
  CU_ASSERT (fabs (centre (lib, peak_chan (lib, 3, 1300, 1400)) - 1332.5)
             <= 3.0);
  gs_library_free (lib);

  /* A narrow grid of fine channels also works. */
  gs_embedded_opts_init (&o);
  o.n_channels = 400;
  o.offset_kev = 600;
  o.kev_per_channel = 0.25;
  o.nuclides = names;
  o.n_nuclides = 1;
  lib = build (&o);
  if (lib)
    {
      CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
      /* The valley on the low side skews the maximum by < 1 keV. */
      CU_ASSERT (fabs (centre (lib, peak_chan (lib, 1, 600, 700)) - 661.657)
                 <= 1.0);
    }
  gs_library_free (lib);
}

static void
test_gain_shift (void)
{
  static const char *const cs[] = { "Cs137" };
  static const double alpha[] = { -0.10, 0.05 };
  size_t i;
  for (i = 0; i < 2; i++)
    {
      gs_library *lib = build_list (cs, 1, 0, alpha[i]);
      double want = 661.657 * (1 - alpha[i]);
      size_t kp;
      if (!lib)
        continue;
      kp = peak_chan (lib, 1, 300, 1000);
      /* alpha = -0.10: ~728 keV, channel 353 as in GammaBench's files. */
      CU_ASSERT (lib->energy_edges[kp] <= want
                 && want < lib->energy_edges[kp + 1]);
      if (alpha[i] < 0)
        CU_ASSERT_EQUAL (kp, 353);
      /* The width scales with the stretch. */
      CU_ASSERT (fabs (measured_fwhm (lib, 1, kp) - 0.07 * want)
                 <= 0.10 * 0.07 * want);
      gs_library_free (lib);
    }
}

static void
test_steel (void)
{
  static const char *const names[] = { "Eu152", "Ba133", "Am241" };
  const double t_gcm2 = 0.5 * 7.874; /* 5 mm of iron */
  gs_library *bare = build_list (names, 3, 0, 0);
  gs_library *shell = build_list (names, 3, 5.0, 0);
  gs_library *thick;
  double r, expect, mu344, mu1408, mu122;
  if (!bare || !shell)
    goto done;
  CU_ASSERT_EQUAL (gs_library_check (shell), GS_OK);
  /* NIST iron: 300 keV 0.1099, 400 keV 0.09400, 100 keV 0.3717,
   * 150 keV 0.1964, 1250 keV 0.05350, 1500 keV 0.04883 cm^2/g. */
  mu344 = nist_fe (344.28, 300, 0.1099, 400, 0.09400);
  mu1408 = nist_fe (1408.0, 1250, 0.05350, 1500, 0.04883);
  mu122 = nist_fe (121.78, 100, 0.3717, 150, 0.1964);

  /* Peak-area ratio 344/1408 keV of Eu-152 follows exp(-Delta mu rho t)
   * within 3 % for 5 mm (the model: +0.9 %; small-angle scatter in the
   * shell adds a little to the 344 keV peak) and within 6 % for 15 mm
   * (model +3.6 %). */
  r = (net_area (shell, 1, 320, 370) / net_area (shell, 1, 1370, 1450))
      / (net_area (bare, 1, 320, 370) / net_area (bare, 1, 1370, 1450));
  expect = exp (-(mu344 - mu1408) * t_gcm2);
  if (fabs (r / expect - 1) > 0.03)
    fprintf (stderr, "\n  344/1408 ratio %.4f, exp(-mu rho t) %.4f\n", r,
             expect);
  CU_ASSERT (fabs (r / expect - 1) <= 0.03);
  thick = build_list (names, 1, 15.0, 0);
  if (thick)
    {
      r = (net_area (thick, 1, 320, 370) / net_area (thick, 1, 1370, 1450))
          / (net_area (bare, 1, 320, 370) / net_area (bare, 1, 1370, 1450));
      expect = exp (-(mu344 - mu1408) * 3 * t_gcm2);
      CU_ASSERT (fabs (r / expect - 1) <= 0.06);
      gs_library_free (thick);
    }

  /* At 122 keV the single-scatter build-up lands inside the peak: the
   * ratio is above the narrow-beam value, by at most 30 %. */
  r = (net_area (shell, 1, 104, 140) / net_area (shell, 1, 1370, 1450))
      / (net_area (bare, 1, 104, 140) / net_area (bare, 1, 1370, 1450));
  expect = exp (-(mu122 - mu1408) * t_gcm2);
  CU_ASSERT (r >= expect && r <= 1.3 * expect);

  /* Ba-133: the 31 keV X-rays vanish and the 81 keV line drops to 10 %;
   * what stays below 100 keV is mostly Compton continuum. */
  CU_ASSERT (range_sum (bare, 2, 0, 100) > 0.4);
  CU_ASSERT (range_sum (shell, 2, 0, 100) < 0.25 * range_sum (bare, 2, 0, 100));

  /* Am-241: the 59.5 keV line is cut to ~1 % (mu rho t = 4.7) and the
   * 26.3 keV line to nothing; what is left is still a 59.5 keV peak. */
  CU_ASSERT (fabs (centre (shell, peak_chan (shell, 3, 20, 200)) - 59.5)
             <= 3.0);
  CU_ASSERT (val (shell, chan (shell, 26.3), 3)
             < 0.7 * val (bare, chan (bare, 26.3), 3));
done:
  gs_library_free (bare);
  gs_library_free (shell);
}

static void
test_iodine_escape (void)
{
  static const char *const am[] = { "Am241" };
  gs_embedded_opts o;
  gs_library *lib;
  double esc, main_peak;
  gs_embedded_opts_init (&o);
  o.nuclides = am;
  o.n_nuclides = 1;
  o.fwhm_662 = 0.02;
  o.kev_per_channel = 0.5;
  o.offset_kev = 20;
  o.n_channels = 160;
  lib = build (&o);
  if (!lib)
    return;
  /* Kalpha escape of 59.5 keV at 31.0 keV, a separate peak at 2 % FWHM. */
  CU_ASSERT (fabs (centre (lib, peak_chan (lib, 1, 29, 33)) - 31.0) <= 0.5);
  CU_ASSERT (val (lib, chan (lib, 31.0), 1) > 2 * val (lib, chan (lib, 38), 1));
  esc = range_sum (lib, 1, 29, 34);
  main_peak = range_sum (lib, 1, 55, 64);
  /* About 8 % in a semi-infinite slab at 60 keV (Kbeta part outside). */
  CU_ASSERT (esc / main_peak > 0.04 && esc / main_peak < 0.15);
  gs_library_free (lib);
}

static void
test_background_only (void)
{
  static const char *const none[] = { NULL };
  gs_library *lib = build_list (none, 0, 0, 0);
  if (lib)
    {
      CU_ASSERT_EQUAL (lib->n_components, 1);
      CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
    }
  gs_library_free (lib);
}

static void
expect_error (const gs_embedded_opts *o, int status, const char *needle)
{
  static gs_library dummy;
  gs_library *lib = &dummy; /* must come back NULL */
  int rc = gs_library_embedded (o, &lib);
  CU_ASSERT_EQUAL (rc, status);
  CU_ASSERT_PTR_NULL (lib);
  if (needle)
    GS_ASSERT_CONTAINS (gs_last_error (), needle);
  if (rc == GS_OK)
    gs_library_free (lib);
}

static void
test_errors (void)
{
  static const char *const bad[] = { "Cs137", "Xx99" };
  static const char *const dup[] = { "Cs137", "Co60", "Cs137" };
  static const char *const bkg[] = { "background" };
  gs_embedded_opts o;
  gs_library *lib = NULL;

  gs_embedded_opts_init (&o);
  o.nuclides = bad;
  o.n_nuclides = 2;
  expect_error (&o, GS_EINVAL, "unknown nuclide 'Xx99'");
  GS_ASSERT_CONTAINS (gs_last_error (), "Cs137");
  GS_ASSERT_CONTAINS (gs_last_error (), "Tc99m");
  o.nuclides = bkg;
  o.n_nuclides = 1;
  expect_error (&o, GS_EINVAL, "unknown nuclide 'background'");
  o.nuclides = dup;
  o.n_nuclides = 3;
  expect_error (&o, GS_EINVAL, "listed twice");
  o.nuclides = NULL;
  o.n_nuclides = 2;
  expect_error (&o, GS_EINVAL, "n_nuclides");

  gs_embedded_opts_init (&o);
  o.n_channels = 0;
  expect_error (&o, GS_EINVAL, "n_channels");
  gs_embedded_opts_init (&o);
  o.kev_per_channel = 0;
  expect_error (&o, GS_EINVAL, "kev_per_channel");
  o.kev_per_channel = -2;
  expect_error (&o, GS_EINVAL, "kev_per_channel");
  o.kev_per_channel = NAN;
  expect_error (&o, GS_EINVAL, "kev_per_channel");
  gs_embedded_opts_init (&o);
  o.offset_kev = NAN;
  expect_error (&o, GS_EINVAL, "offset_kev");
  gs_embedded_opts_init (&o);
  o.fwhm_662 = 0;
  expect_error (&o, GS_EINVAL, "fwhm_662");
  o.fwhm_662 = 0.5;
  expect_error (&o, GS_EINVAL, "fwhm_662");
  o.fwhm_662 = -0.07;
  expect_error (&o, GS_EINVAL, "fwhm_662");
  o.fwhm_662 = NAN;
  expect_error (&o, GS_EINVAL, "fwhm_662");
  gs_embedded_opts_init (&o);
  o.fwhm_exponent = 2;
  expect_error (&o, GS_EINVAL, "fwhm_exponent");
  gs_embedded_opts_init (&o);
  o.steel_mm = -1;
  expect_error (&o, GS_EINVAL, "steel_mm");
  o.steel_mm = NAN;
  expect_error (&o, GS_EINVAL, "steel_mm");
  gs_embedded_opts_init (&o);
  o.gain_shift = 0.7;
  expect_error (&o, GS_EINVAL, "gain_shift");
  /* A grid where a nuclide has no counts at all. */
  gs_embedded_opts_init (&o);
  o.nuclides = bad;
  o.n_nuclides = 1;
  o.offset_kev = 5000;
  o.n_channels = 10;
  expect_error (&o, GS_EINVAL, "no counts");

  CU_ASSERT_EQUAL (gs_library_embedded (NULL, &lib), GS_EINVAL);
  CU_ASSERT_PTR_NULL (lib);
  gs_embedded_opts_init (&o);
  CU_ASSERT_EQUAL (gs_library_embedded (&o, NULL), GS_EINVAL);
}

void
gs_test_register_embedded (void)
{
  CU_pSuite s = CU_add_suite ("embedded", NULL, NULL);
  if (!s)
    return;
  CU_add_test (s, "defaults", test_defaults);
  CU_add_test (s, "deterministic", test_deterministic);
  CU_add_test (s, "known nuclides", test_known_nuclides);
  CU_add_test (s, "line data", test_line_data);
  CU_add_test (s, "Cs137 peak and FWHM", test_cs137_peak_and_fwhm);
  CU_add_test (s, "Cs137 Compton edge", test_cs137_compton_edge);
  CU_add_test (s, "Co60 two peaks", test_co60_two_peaks);
  CU_add_test (s, "background lines", test_background);
  CU_add_test (s, "custom grid", test_custom_grid);
  CU_add_test (s, "gain shift", test_gain_shift);
  CU_add_test (s, "steel attenuation", test_steel);
  CU_add_test (s, "iodine escape", test_iodine_escape);
  CU_add_test (s, "background only", test_background_only);
  CU_add_test (s, "errors", test_errors);
}
