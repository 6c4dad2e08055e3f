/* GammaBench loader (gammabench-spec.md section 1).
 *
 * Data tests read ../shared/data/gammabench and skip when it is absent.
 * Reference values come from two independent sources: the test's own raw
 * reader below (fgets + strtod, pair sums done here), and numbers computed
 * once with plain python3 from the raw text files, e.g.
 *   raw = [float(l) for l in open(bkg)]; B = [raw[20+2j] + raw[21+2j] ...]
 * as quoted next to each constant.  Broken-input tests build small fake
 * GammaBench folders in a temporary directory. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gspec/library.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

void gs_test_register_gammabench (void);

#define NCH 1024
#define SIM_LINES 2998

static const char *const all12[] = { "Co60",  "Ba133", "Co57", "Cs137",
                                     "Eu152", "Am241", "Y88",  "Bi207",
                                     "I123",  "I131",  "Tc99m", "Ga67" };

/* The GammaBench root inside the shared data folder, or NULL (skip). */
static const char *
gb_root (const char *test)
{
  static char root[4096];
  const char *d = gs_test_data_dir (test);
  if (!d)
    return NULL;
  snprintf (root, sizeof root, "%s/gammabench", d);
  if (access (root, R_OK) != 0)
    {
      printf ("\n  SKIP %s: '%s' not found\n", test, root);
      return NULL;
    }
  return root;
}

/* Independent raw reader: up to `max` values, one per line; returns the
 * number of lines read, or -1 when the file cannot be opened. */
static long
raw_read (const char *path, double *v, size_t max)
{
  FILE *f = fopen (path, "r");
  char line[128];
  size_t n = 0;
  if (!f)
    return -1;
  while (n < max && fgets (line, sizeof line, f))
    v[n++] = strtod (line, NULL);
  fclose (f);
  return (long)n;
}

/* Pair sum of a raw simulation file as the spec states it. */
static int
raw_signature (const char *path, double *out)
{
  static double raw[SIM_LINES];
  size_t j;
  if (raw_read (path, raw, SIM_LINES) != SIM_LINES)
    return -1;
  for (j = 0; j < NCH; j++)
    out[j] = raw[20 + 2 * j] + raw[21 + 2 * j];
  return 0;
}

static size_t
argmax (const double *v, size_t n)
{
  size_t i, m = 0;
  for (i = 1; i < n; i++)
    if (v[i] > v[m])
      m = i;
  return m;
}

/* ---------------------------------------------------------------------- */

static void
test_thickness_list (void)
{
  size_t i;
  CU_ASSERT_EQUAL (gs_gammabench_thickness_mm[0], 0.001);
  CU_ASSERT_EQUAL (gs_gammabench_thickness_mm[29], 4.0);
  CU_ASSERT_EQUAL (gs_gammabench_thickness_mm[53], 13.4);
  CU_ASSERT_EQUAL (gs_gammabench_thickness_mm[70], 20.1);
  CU_ASSERT_EQUAL (gs_gammabench_thickness_mm[95], 30.0);
  for (i = 1; i < 96; i++)
    CU_ASSERT (gs_gammabench_thickness_mm[i]
               > gs_gammabench_thickness_mm[i - 1]);
}

/* Every folder of the 12 nuclides passes the name check (96 files whose
 * parsed thicknesses equal the spec list), at the first and last index. */
static void
test_all_folders (void)
{
  const char *root = gb_root ("gammabench all folders");
  double s[NCH];
  size_t k;
  if (!root)
    return;
  for (k = 0; k < 12; k++)
    {
      int rc0 = gs_gammabench_read_signature (root, all12[k], 0, 0, 0, 0, s);
      int rc95
          = gs_gammabench_read_signature (root, all12[k], 95, 0, 0, 0, s);
      if (rc0 || rc95)
        fprintf (stderr, "\n  %s: %s\n", all12[k], gs_last_error ());
      CU_ASSERT_EQUAL (rc0, GS_OK);
      CU_ASSERT_EQUAL (rc95, GS_OK);
    }
}

static void
test_background (void)
{
  const char *root = gb_root ("gammabench background");
  double b[NCH], raw[2200], sum = 0;
  char *path;
  size_t j;
  if (!root)
    return;
  CU_ASSERT_EQUAL_FATAL (gs_gammabench_read_background (root, b), GS_OK);
  /* python3: raw total 2698094; lines 0..19 sum 10749; lines 2068..2199
   * sum 5308; B[0] = 4816, B[1] = 5428 (overwritten); min(B[2:]) = 51.
   * 2698094 - 10749 - 5308 - 4816 - 5428 + 2 * 5.1 = 2671803.2. */
  CU_ASSERT_DOUBLE_EQUAL (b[0], 5.1, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (b[1], 5.1, 1e-12);
  for (j = 0; j < NCH; j++)
    sum += b[j];
  CU_ASSERT_DOUBLE_EQUAL (sum, 2671803.2, 1e-6);
  path = gs__path_join (
      root, "SPS_NaITl_3pouces_Exp_1keVCanal_Max2200keV_20012023A.txt");
  CU_ASSERT_EQUAL_FATAL (raw_read (path, raw, 2200), 2200);
  for (j = 2; j < NCH; j++)
    CU_ASSERT_EQUAL (b[j], raw[20 + 2 * j] + raw[21 + 2 * j]);
  free (path);
}

/* Co60, no max-channel cut: every channel equals the sum of its two raw
 * lines; python3 gives channel 330 = lines 680 + 681 = 1251 + 1252. */
static void
test_pair_sum (void)
{
  const char *root = gb_root ("gammabench pair sum");
  double s[NCH], ref[NCH];
  char *path;
  size_t j;
  int same = 1;
  if (!root)
    return;
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s), GS_OK);
  CU_ASSERT_EQUAL (s[330], 2503.0);
  path = gs__path_join (root, "Simulation_steel_sphere/Co60/"
                              "GRS_NaITl_Co60_STEEL0__001mm.dat");
  CU_ASSERT_EQUAL_FATAL (raw_signature (path, ref), 0);
  for (j = 0; j < NCH; j++)
    same &= s[j] == ref[j];
  CU_ASSERT (same);
  free (path);
  /* Thickness 20.1 mm (index 70) reads its own file. */
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Co60", 70, 0, 0, 1, s), GS_OK);
  path = gs__path_join (root, "Simulation_steel_sphere/Co60/"
                              "GRS_NaITl_Co60_STEEL20__1mm.dat");
  CU_ASSERT_EQUAL_FATAL (raw_signature (path, ref), 0);
  for (same = 1, j = 0; j < NCH; j++)
    same &= s[j] == ref[j];
  CU_ASSERT (same);
  free (path);
}

static void
check_cut (const char *root, const char *nuclide, size_t m)
{
  double cut[NCH], full[NCH];
  size_t j;
  int low_same = 1, high_zero = 1;
  double high_full = 0;
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, nuclide, 0, 0, m, 1, cut), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, nuclide, 0, 0, 0, 1, full), GS_OK);
  for (j = 0; j < NCH; j++)
    if (j < m)
      low_same &= cut[j] == full[j];
    else
      {
        high_zero &= cut[j] == 0;
        high_full += full[j];
      }
  CU_ASSERT (low_same);
  CU_ASSERT (high_zero);
  CU_ASSERT (high_full > 0); /* the cut removes real counts */
  CU_ASSERT (cut[m - 1] > 0);
}

static void
test_max_channel (void)
{
  const char *root = gb_root ("gammabench max channel");
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  long ico57, iam;
  size_t j;
  int zero = 1;
  if (!root)
    return;
  check_cut (root, "Co57", 100);
  check_cut (root, "Am241", 50);
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co57", 0, 0, 1025, 1,
                                                 (double[NCH]){ 0 }),
                   GS_ERANGE);
  /* The library applies the spec's table by default. */
  gs_gammabench_opts_init (&o, root);
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  ico57 = gs_library_find (lib, "Co57");
  iam = gs_library_find (lib, "Am241");
  CU_ASSERT_FATAL (ico57 > 0 && iam > 0);
  for (j = 100; j < NCH; j++)
    zero &= lib->signatures[j * lib->n_components + (size_t)ico57] == 0;
  for (j = 50; j < NCH; j++)
    zero &= lib->signatures[j * lib->n_components + (size_t)iam] == 0;
  CU_ASSERT (zero);
  CU_ASSERT (lib->signatures[99 * lib->n_components + (size_t)ico57] > 0);
  gs_library_free (lib);
}

static void
test_am241_rule (void)
{
  const char *root = gb_root ("gammabench Am241 rule");
  double s29[NCH], s40[NCH], raw40[NCH];
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  const char *am[] = { "Am241" };
  size_t j;
  int same = 1, differs = 0;
  if (!root)
    return;
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Am241", 29, 0, 0, 1, s29), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Am241", 40, 0, 0, 1, s40), GS_OK);
  for (j = 0; j < NCH; j++)
    same &= s29[j] == s40[j];
  CU_ASSERT (same);
  /* Without the rule index 40 (8.3 mm) is its own, different file. */
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Am241", 40, 0, 0, 0, raw40),
      GS_OK);
  for (j = 0; j < NCH; j++)
    differs |= raw40[j] != s29[j];
  CU_ASSERT (differs);
  /* Other nuclides are untouched by the rule. */
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Co60", 40, 0, 0, 1, s40), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Co60", 29, 0, 0, 1, s29), GS_OK);
  for (differs = 0, j = 0; j < NCH; j++)
    differs |= s40[j] != s29[j];
  CU_ASSERT (differs);
  /* Without the rule, Am241 is all zero from 13.4 mm (index 53) on: the
   * library refuses the zero-sum column and names it. */
  gs_gammabench_opts_init (&o, root);
  o.nuclides = am;
  o.n_nuclides = 1;
  o.thickness_index = 60;
  o.apply_am241_rule = 0;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_EBADDATA);
  CU_ASSERT_PTR_NULL (lib);
  GS_ASSERT_CONTAINS (gs_last_error (), "Am241");
  o.apply_am241_rule = 1;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  gs_library_free (lib);
}

static void
test_library (void)
{
  const char *root = gb_root ("gammabench library");
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  double s[NCH], tot = 0;
  size_t i, j, nc;
  long ics;
  int col_ok = 1;
  if (!root)
    return;
  gs_gammabench_opts_init (&o, root);
  CU_ASSERT_EQUAL (o.n_nuclides, 9);
  CU_ASSERT_EQUAL (o.thickness_index, 0);
  CU_ASSERT_EQUAL (o.gain_shift_percent, 0);
  CU_ASSERT_EQUAL (o.apply_am241_rule, 1);
  CU_ASSERT_PTR_NULL (o.max_channels);
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  CU_ASSERT_EQUAL (lib->n_channels, 1024);
  CU_ASSERT_EQUAL_FATAL (lib->n_components, 10);
  nc = lib->n_components;
  CU_ASSERT_STRING_EQUAL (lib->names[0], "background");
  for (i = 0; i < 9; i++)
    CU_ASSERT_STRING_EQUAL (lib->names[i + 1], o.nuclides[i]);
  CU_ASSERT_EQUAL (lib->energy_edges[0], 20.0);
  CU_ASSERT_EQUAL (lib->energy_edges[1], 22.0);
  CU_ASSERT_EQUAL (lib->energy_edges[1024], 2068.0);
  CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
  for (i = 0; i < nc; i++)
    {
      double sum = 0;
      for (j = 0; j < NCH; j++)
        sum += lib->signatures[j * nc + i];
      col_ok &= fabs (sum - 1.0) < 1e-12;
    }
  CU_ASSERT (col_ok);
  GS_ASSERT_CONTAINS (lib->description, "0.001 mm");
  /* The Cs137 column is its raw pair sum (cut at 400) over its total. */
  ics = gs_library_find (lib, "Cs137");
  CU_ASSERT_FATAL (ics > 0);
  {
    char *path = gs__path_join (root, "Simulation_steel_sphere/Cs137/"
                                      "GRS_NaITl_Cs137_STEEL0__001mm.dat");
    CU_ASSERT_EQUAL_FATAL (raw_signature (path, s), 0);
    free (path);
  }
  for (j = 400; j < NCH; j++)
    s[j] = 0;
  for (j = 0; j < NCH; j++)
    tot += s[j];
  for (col_ok = 1, j = 0; j < NCH; j++)
    col_ok &= gs_test_reldiff (lib->signatures[j * nc + (size_t)ics],
                               s[j] / tot)
                  < 1e-12
              || s[j] == 0;
  CU_ASSERT (col_ok);
  gs_library_free (lib);

  /* All 12 nuclides at 20.1 mm, with an explicit max-channel list. */
  {
    size_t mc[12] = { 0 };
    o.nuclides = all12;
    o.n_nuclides = 12;
    o.max_channels = mc;
    o.thickness_index = 70;
    CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&o, &lib), GS_OK);
    CU_ASSERT_EQUAL (lib->n_components, 13);
    CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
    GS_ASSERT_CONTAINS (lib->description, "20.1 mm");
    gs_library_free (lib);
  }
}

static void
test_gain_shift (void)
{
  const char *root = gb_root ("gammabench gain shift");
  double neg[NCH], zero[NCH], pos[NCH], ref[NCH], bkg[NCH];
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  char *path;
  size_t j;
  int same = 1;
  if (!root)
    return;
  /* Spec 1.5: suffix neg_10 is alpha = -0.10, energies x 1.10.  python3
   * argmax of the pair-summed files: neg_10 -> 353, .dat -> 320,
   * 10dat -> 287. */
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Cs137", 0, -10, 0, 1, neg), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Cs137", 0, 0, 0, 1, zero), GS_OK);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Cs137", 0, 10, 0, 1, pos), GS_OK);
  CU_ASSERT_EQUAL (argmax (neg, NCH), 353);
  CU_ASSERT_EQUAL (argmax (zero, NCH), 320);
  CU_ASSERT_EQUAL (argmax (pos, NCH), 287);
  path = gs__path_join (root, "drift_data/Cs137/GRS_NaITl_Cs137_STEEL0__"
                              "001mm_drift.neg_10dat");
  CU_ASSERT_EQUAL_FATAL (raw_signature (path, ref), 0);
  for (j = 0; j < NCH; j++)
    same &= neg[j] == ref[j];
  CU_ASSERT (same);
  free (path);

  /* Out of the data: other thicknesses, nuclides without drift files, more
   * than 10 %. */
  CU_ASSERT_EQUAL (
      gs_gammabench_read_signature (root, "Cs137", 1, 5, 0, 1, ref),
      GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "thickness index 0");
  CU_ASSERT_EQUAL (
      gs_gammabench_read_signature (root, "Y88", 0, 5, 0, 1, ref), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "Y88");
  CU_ASSERT_EQUAL (
      gs_gammabench_read_signature (root, "Cs137", 0, 11, 0, 1, ref),
      GS_ERANGE);

  /* A shifted library: nuclides shifted, background left unshifted. */
  gs_gammabench_opts_init (&o, root);
  o.gain_shift_percent = -3;
  CU_ASSERT_EQUAL_FATAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
  GS_ASSERT_CONTAINS (lib->description, "shift -3 %");
  GS_ASSERT_CONTAINS (lib->description, "background not shifted");
  CU_ASSERT_EQUAL_FATAL (gs_gammabench_read_background (root, bkg), GS_OK);
  {
    double t = 0;
    for (j = 0; j < NCH; j++)
      t += bkg[j];
    for (same = 1, j = 0; j < NCH; j++)
      same &= gs_test_reldiff (lib->signatures[j * lib->n_components],
                               bkg[j] / t)
              < 1e-12;
    CU_ASSERT (same);
  }
  gs_library_free (lib);
}

static void
test_bad_arguments (void)
{
  const char *root = gb_root ("gammabench bad arguments");
  gs_gammabench_opts o;
  gs_library *lib = NULL;
  const char *bad[] = { "Co60", "Cs-137" };
  const char *dup[] = { "Co60", "Cs137", "Co60" };
  double s[NCH];
  gs_gammabench_opts_init (&o, "/nonexistent/gammabench-root");
  CU_ASSERT_NOT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_OK);
  CU_ASSERT_PTR_NULL (lib);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/gammabench-root");
  CU_ASSERT_EQUAL (gs_gammabench_read_signature ("/nonexistent/gb", "Co60",
                                                 0, 0, 0, 1, s),
                   GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "/nonexistent/gb");

  /* Names are checked before any file is read. */
  o.nuclides = bad;
  o.n_nuclides = 2;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_EINVAL);
  CU_ASSERT_PTR_NULL (lib);
  GS_ASSERT_CONTAINS (gs_last_error (), "Cs-137");
  GS_ASSERT_CONTAINS (gs_last_error (),
                      "Co60 Ba133 Co57 Cs137 Eu152 Am241 Y88 Bi207 I123 "
                      "I131 Tc99m Ga67");
  CU_ASSERT_EQUAL (gs_gammabench_read_signature ("/nonexistent/gb", "cs137",
                                                 0, 0, 0, 1, s),
                   GS_EINVAL);
  o.nuclides = dup;
  o.n_nuclides = 3;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "twice");
  o.n_nuclides = 0;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_EINVAL);
  if (!root)
    return;
  gs_gammabench_opts_init (&o, root);
  o.thickness_index = 96;
  CU_ASSERT_EQUAL (gs_library_load_gammabench (&o, &lib), GS_ERANGE);
  CU_ASSERT_PTR_NULL (lib);
}

/* ---------------------------------------------------------------------- */
/* Fake GammaBench folders for broken input.                               */

/* Writes the Co60 folder of a fake root: one empty file per spec thickness
 * except the first, which holds `first` (only that one is read). */
static char *
fake_root (const char *first)
{
  char *root = gs_test_tmpdir ();
  char *dir;
  size_t i;
  if (!root)
    return NULL;
  dir = gs__path_join (root, "Simulation_steel_sphere/Co60");
  CU_ASSERT_EQUAL (gs__mkdirs (dir), GS_OK);
  for (i = 0; i < 96; i++)
    {
      /* Build "<a>__<b>" from the value: 0.001 -> 0__001, 4.0 -> 4__0. */
      char name[128], num[32], *dot;
      snprintf (num, sizeof num, "%g", gs_gammabench_thickness_mm[i]);
      dot = strchr (num, '.');
      if (dot)
        {
          *dot = '\0';
          snprintf (name, sizeof name, "GRS_NaITl_Co60_STEEL%s__%smm.dat",
                    num, dot + 1);
        }
      else
        snprintf (name, sizeof name, "GRS_NaITl_Co60_STEEL%s__0mm.dat", num);
      free (gs_test_write (dir, name, i == 0 ? first : ""));
    }
  free (dir);
  return root;
}

static char *
counts_text (size_t n, size_t bad_line, const char *bad)
{
  gs__buf b;
  size_t i;
  gs__buf_init (&b);
  for (i = 1; i <= n; i++)
    {
      if (i == bad_line)
        gs__buf_printf (&b, "%s\n", bad);
      else
        gs__buf_printf (&b, "%10zu\n", i % 7);
    }
  gs__buf_append (&b, "", 0);
  return b.data;
}

static void
test_broken_files (void)
{
  char *text, *root, *p;
  double s[NCH];
  size_t j;
  int ok = 1;

  /* A good fake: 0-based line k holds (k + 1) % 7, so channel j is
   * (21 + 2j) % 7 + (22 + 2j) % 7. */
  text = counts_text (SIM_LINES, 0, "");
  root = fake_root (text);
  free (text);
  CU_ASSERT_PTR_NOT_NULL_FATAL (root);
  CU_ASSERT_EQUAL_FATAL (
      gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s), GS_OK);
  for (j = 0; j < NCH; j++)
    ok &= s[j] == (double)((21 + 2 * j) % 7 + (22 + 2 * j) % 7);
  CU_ASSERT (ok);

  /* An extra thickness, then a stray file, then a missing one. */
  p = gs_test_write (root, "Simulation_steel_sphere/Co60/"
                           "GRS_NaITl_Co60_STEEL4__05mm.dat", "");
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "STEEL4__05mm.dat");
  GS_ASSERT_CONTAINS (gs_last_error (), "Simulation_steel_sphere/Co60");
  unlink (p);
  free (p);
  p = gs_test_write (root, "Simulation_steel_sphere/Co60/notes.txt", "x");
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "notes.txt");
  unlink (p);
  free (p);
  p = gs__path_join (root, "Simulation_steel_sphere/Co60/"
                           "GRS_NaITl_Co60_STEEL4__0mm.dat");
  CU_ASSERT_EQUAL (unlink (p), 0);
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "Simulation_steel_sphere/Co60");
  GS_ASSERT_CONTAINS (gs_last_error (), "thickness 4 mm");
  free (gs_test_write (root, "Simulation_steel_sphere/Co60/"
                             "GRS_NaITl_Co60_STEEL4__0mm.dat", ""));
  free (p);

  /* Wrong line count, malformed line, negative count. */
  p = gs__path_join (root, "Simulation_steel_sphere/Co60/"
                           "GRS_NaITl_Co60_STEEL0__001mm.dat");
  text = counts_text (SIM_LINES - 1, 0, "");
  free (gs_test_write (root, "Simulation_steel_sphere/Co60/"
                             "GRS_NaITl_Co60_STEEL0__001mm.dat", text));
  free (text);
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), "2997 lines; expected 2998");
  text = counts_text (SIM_LINES, 17, "  12abc");
  free (gs_test_write (root, "Simulation_steel_sphere/Co60/"
                             "GRS_NaITl_Co60_STEEL0__001mm.dat", text));
  free (text);
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), p);
  GS_ASSERT_CONTAINS (gs_last_error (), "line 17");
  text = counts_text (SIM_LINES, 2998, "-3");
  free (gs_test_write (root, "Simulation_steel_sphere/Co60/"
                             "GRS_NaITl_Co60_STEEL0__001mm.dat", text));
  free (text);
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, 0, 0, 1, s),
                   GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "line 2998");
  free (p);

  /* Background: missing, then 2199 lines. */
  CU_ASSERT_EQUAL (gs_gammabench_read_background (root, s), GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), root);
  text = counts_text (2199, 0, "");
  free (gs_test_write (
      root, "SPS_NaITl_3pouces_Exp_1keVCanal_Max2200keV_20012023A.txt",
      text));
  free (text);
  CU_ASSERT_EQUAL (gs_gammabench_read_background (root, s), GS_EFORMAT);
  GS_ASSERT_CONTAINS (gs_last_error (), "2199 lines; expected 2200");

  /* A missing drift file names its path. */
  CU_ASSERT_EQUAL (gs_gammabench_read_signature (root, "Co60", 0, -4, 0, 1,
                                                 s),
                   GS_ENOENT);
  GS_ASSERT_CONTAINS (gs_last_error (), "drift_data/Co60/GRS_NaITl_Co60_"
                                        "STEEL0__001mm_drift.neg_4dat");
  gs_test_rmtree (root);
  free (root);
}

void
gs_test_register_gammabench (void)
{
  CU_pSuite s = CU_add_suite ("gammabench", NULL, NULL);
  if (!s)
    return;
  CU_add_test (s, "thickness list", test_thickness_list);
  CU_add_test (s, "all 12 folders match the list", test_all_folders);
  CU_add_test (s, "background processing", test_background);
  CU_add_test (s, "cut and pair sum", test_pair_sum);
  CU_add_test (s, "max-channel zeroing", test_max_channel);
  CU_add_test (s, "Am241 rule", test_am241_rule);
  CU_add_test (s, "library columns", test_library);
  CU_add_test (s, "gain shift files", test_gain_shift);
  CU_add_test (s, "bad root and nuclides", test_bad_arguments);
  CU_add_test (s, "broken files", test_broken_files);
}
