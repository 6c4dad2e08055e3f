/* Measured labelled sets in experiments (issue 7): quadratic library
 * grids, putting sets onto a grid, libraries learnt from labelled sets
 * (class means, checked against hand-computed means), inline library
 * files (bit-exact round trip), joining sets, labels the library lacks
 * (outliers, left out of training) and the labelled report sections
 * (single-label accuracy, outlier AUC) on hand-counted cases. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "engine.h"
#include "experiment.h"
#include "gspec/library.h"
#include "gspec/rebin.h"
#include "gspec/spectra.h"
#include "gspec/status.h"
#include "report_labelled.h"
#include "test_util.h"
#include "util.h"

static const gs_calib gf_std = { -12.0, 8.15, 0.0012 };

/* Writes a labelled set dir/name.{counts.npy,meta.csv}: rows x C counts,
 * labels, and one calibration for every row (NULL: no calibration
 * columns).  Returns the prefix (malloc'd). */
static char *
write_set (const char *dir, const char *name, const double *counts, size_t rows,
           size_t C, const char *const *labels, const gs_calib *cal,
           const char *extra_col, const char *extra_val)
{
  char *prefix = gs__path_join (dir, name);
  char *npy = gs__asprintf ("%s.counts.npy", prefix);
  gs__buf b;
  size_t i;
  char *csvname = gs__asprintf ("%s.meta.csv", name);
  CU_ASSERT_EQUAL_FATAL (gs_npy_write_matrix (npy, counts, rows, C), GS_OK);
  gs__buf_init (&b);
  gs__buf_puts (&b, "index,labels");
  if (cal)
    gs__buf_puts (&b, ",cal_offset_keV,cal_slope_keV,cal_quad_keV");
  if (extra_col)
    gs__buf_printf (&b, ",%s", extra_col);
  gs__buf_puts (&b, "\n");
  for (i = 0; i < rows; i++)
    {
      gs__buf_printf (&b, "%zu,%s", i, labels[i]);
      if (cal)
        gs__buf_printf (&b, ",%.17g,%.17g,%.17g", cal->offset, cal->slope,
                        cal->quad);
      if (extra_col)
        gs__buf_printf (&b, ",%s", extra_val);
      gs__buf_puts (&b, "\n");
    }
  free (gs_test_write (dir, csvname, b.data));
  gs__buf_fini (&b);
  free (npy);
  free (csvname);
  return prefix;
}

static void
test_grid_calib (void)
{
  gs_library *lib = gs_library_alloc (256, 1);
  gs_calib c;
  CU_ASSERT_PTR_NOT_NULL_FATAL (lib);
  CU_ASSERT_EQUAL (gs_library_set_calib_grid (lib, &gf_std), GS_OK);
  /* Edge k is E(k - 1/2), written out. */
  CU_ASSERT_DOUBLE_EQUAL (lib->energy_edges[10],
                          -12.0 + 8.15 * 9.5 + 0.0012 * 9.5 * 9.5, 1e-12);
  CU_ASSERT_EQUAL (gs_library_grid_calib (lib, &c), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (c.offset, -12.0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL (c.slope, 8.15, 1e-11);
  CU_ASSERT_DOUBLE_EQUAL (c.quad, 0.0012, 1e-12);
  /* A linear grid: 20 keV + 2 keV per channel has centres 21 + 2 ch. */
  CU_ASSERT_EQUAL (gs_library_set_linear_grid (lib, 20.0, 2.0), GS_OK);
  CU_ASSERT_EQUAL (gs_library_grid_calib (lib, &c), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (c.offset, 21.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (c.slope, 2.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (c.quad, 0.0, 1e-12);
  /* Not quadratic: refused, naming the edge. */
  lib->energy_edges[100] += 0.5;
  CU_ASSERT_EQUAL (gs_library_grid_calib (lib, &c), GS_EINVAL);
  GS_ASSERT_CONTAINS (gs_last_error (), "edge 100");
  /* A decreasing calibration cannot make a grid. */
  {
    gs_calib bad = { 0.0, -1.0, 0.0 };
    CU_ASSERT_EQUAL (gs_library_set_calib_grid (lib, &bad), GS_EINVAL);
  }
  gs_library_free (lib);
}

/* Class means on the grid's own calibration (no rebin) and on another
 * one (rebinned: the mean of rebinned spectra is the rebinned mean). */
static void
test_labelled_library (void)
{
  enum
  {
    C = 8
  };
  char *dir = gs_test_tmpdir ();
  static const gs_calib grid = { 0.0, 10.0, 0.0 };
  static const gs_calib other = { 3.0, 9.0, 0.01 };
  double a[5 * C], b[2 * C], mean[C], reb[C], s;
  static const char *const la[5]
      = { "background", "X", "background", "Y+background", "X" };
  static const char *const lb[2] = { "Y", "Y" };
  const char *sets[2];
  static const char *const nucs[2] = { "X", "Y" };
  gs_labelled_lib_opts o;
  gs_library *lib = NULL;
  size_t i, c;
  for (i = 0; i < 5 * C; i++)
    a[i] = (double)((i * 7) % 11) + 1.0;
  for (i = 0; i < 2 * C; i++)
    b[i] = (double)((i * 5) % 13) + 0.5;
  sets[0] = write_set (dir, "a", a, 5, C, la, &grid, NULL, NULL);
  sets[1] = write_set (dir, "b", b, 2, C, lb, &other, NULL, NULL);
  memset (&o, 0, sizeof o);
  o.sets = sets;
  o.n_sets = 2;
  o.nuclides = nucs;
  o.n_nuclides = 2;
  o.calib = grid;
  o.n_channels = C;
  o.mode = GS_REBIN_OVERLAP;
  CU_ASSERT_EQUAL_FATAL (gs_library_from_sets (&o, &lib), GS_OK);
  CU_ASSERT_STRING_EQUAL (lib->names[0], "background");
  CU_ASSERT_STRING_EQUAL (lib->names[2], "Y");
  /* Background: rows 0 and 2 (row 3 has two labels: not used). */
  for (s = 0.0, c = 0; c < C; c++)
    s += mean[c] = a[0 * C + c] + a[2 * C + c];
  for (c = 0; c < C; c++)
    CU_ASSERT_DOUBLE_EQUAL (lib->signatures[c * 3 + 0], mean[c] / s, 1e-15);
  for (s = 0.0, c = 0; c < C; c++)
    s += mean[c] = a[1 * C + c] + a[4 * C + c];
  for (c = 0; c < C; c++)
    CU_ASSERT_DOUBLE_EQUAL (lib->signatures[c * 3 + 1], mean[c] / s, 1e-15);
  /* Y from the other calibration: rebin the hand mean, normalise. */
  for (c = 0; c < C; c++)
    mean[c] = 0.5 * (b[c] + b[C + c]);
  CU_ASSERT_EQUAL (
      gs_rebin (mean, C, &other, reb, C, &grid, GS_REBIN_OVERLAP, NULL), GS_OK);
  for (s = 0.0, c = 0; c < C; c++)
    s += reb[c];
  for (c = 0; c < C; c++)
    CU_ASSERT_DOUBLE_EQUAL (lib->signatures[c * 3 + 2], reb[c] / s, 1e-14);
  CU_ASSERT_EQUAL (gs_library_check (lib), GS_OK);
  gs_library_free (lib);
  /* A nuclide without a spectrum labelled exactly it: named. */
  {
    static const char *const n3[3] = { "X", "Y", "Zz99" };
    o.nuclides = n3;
    o.n_nuclides = 3;
    CU_ASSERT_EQUAL (gs_library_from_sets (&o, &lib), GS_EBADDATA);
    GS_ASSERT_CONTAINS (gs_last_error (), "'Zz99'");
    CU_ASSERT_PTR_NULL (lib);
  }
  free ((char *)sets[0]);
  free ((char *)sets[1]);
  gs_test_rmtree (dir);
  free (dir);
}

static void
test_inline_round_trip (void)
{
  char *dir = gs_test_tmpdir ();
  char *path = gs__path_join (dir, "lib.yaml");
  gs_library *lib = gs_library_alloc (37, 3), *back = NULL;
  size_t i;
  CU_ASSERT_PTR_NOT_NULL_FATAL (lib);
  gs_library_set_calib_grid (lib, &gf_std);
  gs_library_set_name (lib, 0, "background");
  gs_library_set_name (lib, 1, "Cs137");
  gs_library_set_name (lib, 2, "Co60");
  for (i = 0; i < 37 * 3; i++)
    lib->signatures[i] = 1.0 / 3.0 + 1e-3 * sin ((double)i);
  CU_ASSERT_EQUAL (gs_library_normalise (lib), GS_OK);
  lib->description = gs__strdup ("a \"quoted\" test");
  CU_ASSERT_EQUAL_FATAL (gs_library_write_inline (lib, path), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_library_load_file (path, &back), GS_OK);
  CU_ASSERT_EQUAL (back->n_channels, 37);
  CU_ASSERT_EQUAL (back->n_components, 3);
  CU_ASSERT_STRING_EQUAL (back->names[1], "Cs137");
  CU_ASSERT (
      memcmp (back->signatures, lib->signatures, 37 * 3 * sizeof (double))
      == 0);
  CU_ASSERT (
      memcmp (back->energy_edges, lib->energy_edges, 38 * sizeof (double))
      == 0);
  gs_library_free (back);
  back = NULL;
  /* A column of the wrong length is refused with its position. */
  free (gs_test_write (dir, "bad.yaml",
                       "source: inline\nnames: [background, A]\n"
                       "energy_edges: [0, 1, 2]\nsignatures:\n"
                       "  - [0.5, 0.5]\n  - [1.0]\n"));
  free (path);
  path = gs__path_join (dir, "bad.yaml");
  CU_ASSERT_EQUAL (gs_library_load_file (path, &back), GS_ECONFIG);
  GS_ASSERT_CONTAINS (gs_last_error (), "signature of 'A' has 1 values");
  /* Columns must sum to 1. */
  free (gs_test_write (dir, "bad2.yaml",
                       "source: inline\nnames: [background, A]\n"
                       "energy_edges: [0, 1, 2]\nsignatures:\n"
                       "  - [0.5, 0.5]\n  - [1.0, 0.5]\n"));
  free (path);
  path = gs__path_join (dir, "bad2.yaml");
  CU_ASSERT_NOT_EQUAL (gs_library_load_file (path, &back), GS_OK);
  CU_ASSERT_PTR_NULL (back);
  gs_library_free (lib);
  free (path);
  gs_test_rmtree (dir);
  free (dir);
}

/* Joining sets, unknown labels and the grid rule for sets without a
 * calibration. */
static void
test_concat_unknown (void)
{
  enum
  {
    C = 4
  };
  char *dir = gs_test_tmpdir ();
  static const double a[2 * C] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  static const double b[3 * C] = { 0, 1, 0, 1, 2, 2, 2, 2, 9, 9, 9, 9 };
  static const char *const la[2] = { "background", "W+background" };
  static const char *const lb[3] = { "X", "X+Y", "background" };
  gs_calib grid = { 0.0, 1.0, 0.0 };
  char *pa = write_set (dir, "a", a, 2, C, la, &grid, "detector", "left");
  char *pb = write_set (dir, "b", b, 3, C, lb, NULL, NULL, NULL);
  gs_spectra *sa = NULL, *sb = NULL, *all = NULL;
  gs_spectra *parts[2];
  gs_library *lib = gs_library_alloc (C, 3);
  gs_spectra_ds ds;
  gs_dataset d;
  double y[C], t[3];
  CU_ASSERT_PTR_NOT_NULL_FATAL (lib);
  gs_library_set_calib_grid (lib, &grid);
  gs_library_set_name (lib, 0, "background");
  gs_library_set_name (lib, 1, "X");
  gs_library_set_name (lib, 2, "Y");
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (pa, &sa), GS_OK);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (pb, &sb), GS_OK);
  CU_ASSERT_EQUAL (gs_spectra_to_library_grid (sa, lib, 0, NULL), GS_OK);
  CU_ASSERT_EQUAL (gs_spectra_to_library_grid (sb, lib, 0, NULL), GS_OK);
  parts[0] = sa;
  parts[1] = sb;
  CU_ASSERT_EQUAL_FATAL (gs_spectra_concat (parts, 2, &all), GS_OK);
  CU_ASSERT_EQUAL (all->n_spectra, 5);
  CU_ASSERT_STRING_EQUAL (all->labels[3], "X+Y");
  CU_ASSERT_DOUBLE_EQUAL (all->counts[4 * C + 2], 9.0, 0.0);
  /* b has no calibration: the joined set has none; a's meta column is
   * kept, empty for b's rows. */
  CU_ASSERT_PTR_NULL (all->cal_offset);
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (all, 1, "detector"), "left");
  CU_ASSERT_STRING_EQUAL (gs_spectra_meta (all, 2, "detector"), "");
  GS_ASSERT_CONTAINS (all->source, " + ");
  /* W is not in the library: row 1 is an outlier that keeps its
   * background truth. */
  CU_ASSERT_EQUAL_FATAL (gs_spectra_ds_init (&ds, all, lib), GS_OK);
  CU_ASSERT_EQUAL (ds.n_unknown, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (ds.unknown);
  CU_ASSERT_EQUAL (ds.unknown[1], 1);
  CU_ASSERT_EQUAL (ds.unknown[0], 0);
  CU_ASSERT_STRING_EQUAL (ds.unknown_names, "W");
  CU_ASSERT_DOUBLE_EQUAL (ds.truth[1 * 3 + 0], 1.0, 0.0);
  CU_ASSERT_DOUBLE_EQUAL (ds.truth[3 * 3 + 2], 1.0, 0.0);
  /* Known rows only: 4 rows, the second being b's first. */
  CU_ASSERT_EQUAL (gs_spectra_ds_known_only (&ds), GS_OK);
  d = gs_spectra_ds_dataset (&ds);
  CU_ASSERT_EQUAL (d.n_spectra, 4);
  CU_ASSERT_EQUAL (d.spectrum (d.ctx, 1, y), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (y[1], 1.0, 0.0);
  CU_ASSERT_EQUAL (d.truth (d.ctx, 2, t), GS_OK);
  CU_ASSERT_DOUBLE_EQUAL (t[1] + t[2], 2.0, 0.0);
  CU_ASSERT_NOT_EQUAL (d.spectrum (d.ctx, 4, y), GS_OK);
  gs_spectra_ds_fini (&ds);
  /* A set without calibration on another channel count is refused. */
  {
    gs_library *big = gs_library_alloc (C + 1, 1);
    gs_library_set_linear_grid (big, 0.0, 1.0);
    CU_ASSERT_EQUAL (gs_spectra_to_library_grid (sb, big, 0, NULL), GS_EBADLEN);
    GS_ASSERT_CONTAINS (gs_last_error (), "no energy calibration");
    /* One with a calibration is rebinned onto it: the target grid starts
     * at 0 keV, the source's first channel covers [-0.5, 0.5), so half of
     * its count (0.5) falls below the grid and is dropped, not put into
     * channel 0. */
    CU_ASSERT_EQUAL (gs_spectra_to_library_grid (sa, big, 0, NULL), GS_OK);
    CU_ASSERT_EQUAL (sa->n_channels, C + 1);
    CU_ASSERT_DOUBLE_EQUAL (sa->counts[0] + sa->counts[1] + sa->counts[2]
                                + sa->counts[3] + sa->counts[4],
                            9.5, 1e-12);
    /* Counts that all miss the grid: said, not passed on as zeros. */
    CU_ASSERT_EQUAL (gs_library_set_linear_grid (big, 100.0, 1.0), GS_OK);
    CU_ASSERT_EQUAL (gs_spectra_to_library_grid (sa, big, 0, NULL),
                     GS_EBADDATA);
    GS_ASSERT_CONTAINS (gs_last_error (), "lie outside the library grid");
    gs_library_free (big);
  }
  gs_spectra_free (all);
  gs_spectra_free (sa);
  gs_spectra_free (sb);
  gs_library_free (lib);
  free (pa);
  free (pb);
  gs_test_rmtree (dir);
  free (dir);
}

/* Hand-counted single-label accuracy and outlier AUC. */
static void
test_report_sections (void)
{
  enum
  {
    N = 6,
    K = 3
  };
  static const char *const names[K] = { "background", "X", "Y" };
  static const char *const labels[N] = { "X+background", "Y+background",
                                         "background",   "X",
                                         "Z+background", "Y" };
  static const char *const det[N]
      = { "left", "left", "left", "right", "right", "right" };
  static const int unknown[N] = { 0, 0, 0, 0, 1, 0 };
  static const int ok[N] = { 1, 1, 1, 1, 1, 1 };
  /* Identifier: row 0 X right; row 1 predicts X and Y with Y stronger
   * (right); row 2 predicts X (wrong); row 3 nothing (wrong: X);
   * row 5 Y right. */
  static const int present[N * K]
      = { 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1 };
  static const double score[N * K]
      = { NAN, 0.9, 0.1, NAN, 0.3, 0.6, NAN, 0.5, 0.0,
          NAN, 0.0, 0.0, NAN, 0.9, 0.0, NAN, 0.0, 0.9 };
  /* Quantifier: shares decide (> 0.1): row 0 X, row 1 bg (Y at 5 %),
   * row 2 bg, row 3 X, row 5 Y: 4 of 5 right (row 1 wrong). */
  static const double counts[N * K]
      = { 10, 80, 10, 95, 0, 5, 100, 5, 0, 50, 50, 0, 10, 0, 0, 1, 0, 9 };
  static const char *const ex_names[3] = { "outlier", "outlier_score_a", NULL };
  static const double extras[N * 2]
      = { 0, 0.1, 0, 0.2, 1, 0.9, 0, 0.3, 1, 0.8, 0, 0.4 };
  gs_lab_method m[2];
  gs_lab_input in;
  gs__buf md, js;
  memset (m, 0, sizeof m);
  m[0].id = "t.ident";
  m[0].kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY;
  m[0].ok = ok;
  m[0].present = present;
  m[0].score = score;
  m[0].counts = counts;
  m[0].n_extras = 2;
  m[0].extra_names = ex_names;
  m[0].extras = extras;
  m[1] = m[0];
  m[1].id = "t.quant";
  m[1].kinds = GS_KIND_QUANTIFY;
  m[1].n_extras = 0;
  m[1].extra_names = NULL;
  memset (&in, 0, sizeof in);
  in.n = N;
  in.K = K;
  in.names = names;
  in.labels = labels;
  in.unknown = unknown;
  in.n_unknown = 1;
  in.unknown_names = "Z";
  in.group_title = "detector";
  in.group_of = det;
  in.methods = m;
  in.n_methods = 2;
  gs__buf_init (&md);
  gs__buf_init (&js);
  CU_ASSERT_EQUAL_FATAL (gs_report_labelled (&in, &md, &js), GS_OK);
  /* Identifier: 3 of 5 (rows 0, 1, 5); left 2 of 3, right 1 of 2. */
  GS_ASSERT_CONTAINS (md.data, "| t.ident | 60.00 % [");
  GS_ASSERT_CONTAINS (md.data, "(5) | 66.67 % [");
  GS_ASSERT_CONTAINS (md.data, "(3) | 50.00 % [");
  GS_ASSERT_CONTAINS (md.data, "| t.quant | 80.00 % [");
  GS_ASSERT_CONTAINS (md.data, "1 spectra whose labels name nuclides");
  /* Outlier: the one unknown (score 0.8) beats 4 of the 5 known (0.9
   * beats it): AUC 0.8; the flag catches it (TPR 1/1) and flags one of
   * five known (FPR 1/5). */
  GS_ASSERT_CONTAINS (md.data, "| t.ident | a | 0.800 [");
  GS_ASSERT_CONTAINS (md.data, "100.00 % [");
  GS_ASSERT_CONTAINS (md.data, "20.00 % [");
  GS_ASSERT_CONTAINS (js.data,
                      "\"outlier_score_a\": {\"auc\": 0.80000000000000004");
  GS_ASSERT_CONTAINS (js.data,
                      "\"t.quant\": {\"all\": {\"value\": 0.80000000000000004, "
                      "\"k\": 4, \"n\": 5");
  gs__buf_fini (&md);
  gs__buf_fini (&js);
}

/* k of the group `group` of method `id` in results.json's single-label
 * table, or -1. */
static long
single_label_k (const char *json, const char *id, const char *group)
{
  char key[128];
  const char *p = strstr (json, "\"single_label\": {");
  if (!p)
    return -1;
  snprintf (key, sizeof key, "\"%s\": {\"all\": ", id);
  if (!(p = strstr (p, key)))
    return -1;
  snprintf (key, sizeof key, "\"%s\": {\"value\": ", group);
  if (!(p = strstr (p, key)) || !(p = strstr (p, "\"k\": ")))
    return -1;
  return strtol (p + 5, NULL, 10);
}

/* The measured gamma_flow data end to end: gamma_flow's own code, run on
 * these files (training on the simulated isotopes + both backgrounds),
 * classifies 4025 of 4116 left and 3824 of 4102 right spectra correctly
 * (97.79 % / 93.22 %, the reference).  ml.gammaflow with
 * gamma_flow's linear rebin must land within one spectrum of that; the
 * Poisson scores must do at least as well.  Then train, analyze --model
 * with --denoised, and export-library, whose loadings must equal the
 * labelled library's class means (two independent computations). */
static void
test_gammaflow_measured (void)
{
  const char *data = gs_test_data_dir ("gammaflow measured end to end");
  char *dir, cmd[8192], *json, *csv;
  gs_library *exp = NULL, *ref = NULL;
  gs_experiment *e = NULL;
  gs_spectra *den = NULL;
  size_t i;
  long k;
  int st;
  if (!data)
    return;
  dir = gs_test_tmpdir ();
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  snprintf (cmd, sizeof cmd,
            "cd '%s' && export GSPEC_DATA='%s' && G='%s/gspec' && "
            "C='%s/configs/gammaflow-measured.yaml' && "
            "$G run $C --out lin --set rebin=linear --set library.rebin=linear "
            "--set methods.0.params.fit=nnls "
            "--quiet > lin.log 2>&1 && "
            "$G run $C --out poi --quiet "
            "> poi.log 2>&1 && "
            "$G train $C --method ml.gammaflow --out tr --quiet > tr.log 2>&1 "
            "&& $G analyze --method ml.gammaflow --model "
            "tr/models/ml.gammaflow.gsm --input $GSPEC_DATA/gamma_flow/"
            "Eu152_right --output an.csv --denoised den --quiet > an.log 2>&1 "
            "&& $G export-library --model tr/models/ml.gammaflow.gsm --out "
            "lib.yaml > ex.log 2>&1",
            dir, data, GSPEC_BUILD_DIR, GSPEC_SOURCE_DIR);
  st = system (cmd);
  CU_ASSERT_EQUAL_FATAL (st, 0);
  json = gs_test_slurp (dir, "lin/results.json");
  CU_ASSERT_PTR_NOT_NULL_FATAL (json);
  k = single_label_k (json, "ml.gammaflow", "left");
  printf ("\n  gamma_flow NNLS, linear rebin: left %ld / 4116 (gamma_flow "
          "4025), ",
          k);
  CU_ASSERT (labs (k - 4025) <= 1);
  k = single_label_k (json, "ml.gammaflow", "right");
  printf ("right %ld / 4102 (gamma_flow 3824)\n", k);
  CU_ASSERT (labs (k - 3824) <= 1);
  free (json);
  json = gs_test_slurp (dir, "poi/results.json");
  CU_ASSERT_PTR_NOT_NULL_FATAL (json);
  k = single_label_k (json, "ml.gammaflow", "left");
  printf ("  Poisson scores, overlap rebin: left %ld, ", k);
  CU_ASSERT (k >= 4025);
  k = single_label_k (json, "ml.gammaflow", "right");
  printf ("right %ld\n", k);
  CU_ASSERT (k >= 3824);
  /* The unseen-label machinery is idle here: no outlier table. */
  CU_ASSERT_PTR_NULL (strstr (json, "\"outliers\""));
  free (json);
  /* analyze: one row per spectrum of the set (493) plus the header. */
  csv = gs_test_slurp (dir, "an.csv");
  CU_ASSERT_PTR_NOT_NULL_FATAL (csv);
  for (k = 0, i = 0; csv[i]; i++)
    k += csv[i] == '\n';
  CU_ASSERT_EQUAL (k, 494);
  GS_ASSERT_CONTAINS (csv, ",outlier_score_cosine,outlier_score_deviance,"
                           "outlier\n");
  /* The denoised total of the first spectrum is the sum of its counts
   * (learnt columns sum to 1). */
  {
    const char *p = strchr (csv, '\n') + 1;
    double tot = 0.0, v;
    char *q;
    int f;
    p = strchr (p, ',') + 1; /* index */
    p = strchr (p, ',') + 1; /* labels */
    for (f = 0; f < 5; f++)
      {
        v = strtod (p, &q);
        tot += v;
        p = q + 1;
      }
    {
      char *prefix = gs__path_join (dir, "den");
      CU_ASSERT_EQUAL_FATAL (gs_spectra_read (prefix, &den), GS_OK);
      free (prefix);
    }
    CU_ASSERT_EQUAL (den->n_spectra, 493);
    CU_ASSERT_EQUAL (den->n_channels, 256);
    for (v = 0.0, i = 0; i < den->n_channels; i++)
      v += den->counts[i];
    CU_ASSERT (fabs (v - tot) <= 1e-6 * tot);
    gs_spectra_free (den);
  }
  free (csv);
  /* export-library = the labelled library of the config (class means). */
  {
    char *lib = gs__path_join (dir, "lib.yaml");
    char *cfg
        = gs__asprintf ("%s/configs/gammaflow-measured.yaml", GSPEC_SOURCE_DIR);
    double worst = 0.0;
    setenv ("GSPEC_DATA", data, 1);
    CU_ASSERT_EQUAL_FATAL (gs_library_load_file (lib, &exp), GS_OK);
    CU_ASSERT_EQUAL_FATAL (gs_experiment_load (cfg, NULL, 0, &e), GS_OK);
    CU_ASSERT_EQUAL_FATAL (gs_library_load_node (e->library, e->dir, &ref),
                           GS_OK);
    CU_ASSERT_EQUAL_FATAL (exp->n_components, ref->n_components);
    CU_ASSERT_EQUAL_FATAL (exp->n_channels, ref->n_channels);
    for (i = 0; i < exp->n_channels * exp->n_components; i++)
      if (fabs (exp->signatures[i] - ref->signatures[i]) > worst)
        worst = fabs (exp->signatures[i] - ref->signatures[i]);
    printf ("  exported loadings vs labelled library: max |diff| %.2g\n",
            worst);
    CU_ASSERT (worst <= 1e-12);
    for (i = 0; i <= exp->n_channels; i++)
      CU_ASSERT_DOUBLE_EQUAL (exp->energy_edges[i], ref->energy_edges[i], 1e-9);
    gs_library_free (exp);
    gs_library_free (ref);
    gs_experiment_free (e);
    free (lib);
    free (cfg);
  }
  /* A set without calibration on the wrong grid is refused clearly. */
  free (gs_test_write (dir, "short.txt", "1\n2\n3\n"));
  snprintf (cmd, sizeof cmd,
            "cd '%s' && '%s/gspec' analyze --model "
            "tr/models/ml.gammaflow.gsm --input short.txt > bad.log 2>&1",
            dir, GSPEC_BUILD_DIR);
  st = system (cmd);
  CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) != 0);
  csv = gs_test_slurp (dir, "bad.log");
  GS_ASSERT_CONTAINS (csv, "has 3 channels but the library has 256");
  free (csv);
  unsetenv ("GSPEC_PLUGIN_PATH");
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_measured (void);
void
gs_test_register_measured (void)
{
  CU_pSuite s = CU_add_suite ("measured", NULL, NULL);
  CU_add_test (s, "quadratic library grids", test_grid_calib);
  CU_add_test (s, "library learnt from labelled sets", test_labelled_library);
  CU_add_test (s, "inline library files", test_inline_round_trip);
  CU_add_test (s, "joined sets and unknown labels", test_concat_unknown);
  CU_add_test (s, "single-label and outlier report sections",
               test_report_sections);
  CU_add_test (s, "gamma_flow measured data end to end",
               test_gammaflow_measured);
}
