/* Run reports (core/src/report.c) against a hand-made 12-spectrum case. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gspec/plugin.h"
#include "gspec/status.h"
#include "report.h"
#include "test_util.h"
#include "util.h"

#define NS 12
#define NK 3

static const char *const names[NK] = { "Bkg", "Co60", "Cs137" };

/* Columns: background, Co60, Cs137.  The background is always present and
 * never predicted (it is not evaluated).  m.one's decisions:
 *   4: {}     -> {Co60}        FP
 *   5: {Co60} -> {}            FN
 *   6: {Cs137} -> {Co60,Cs137} FP
 *  11: {Co60,Cs137} -> {Co60}  FN, but m.one has no result (ok = 0)
 * every other spectrum is right.  Over its 11 spectra: 3 wrong (4, 5, 6),
 * PPR 8/11 = 72.73 %, FPrR 27.27 %, FPR 2/11 = 18.18 %, FNR 1/11 =
 * 9.09 %, Hamming accuracy 19/22 = 86.36 %. */
static const double truth[NS * NK] = {
  100, 0,   0,   /* 0 */
  110, 50,  0,   /* 1 */
  120, 0,   60,  /* 2 */
  130, 70,  80,  /* 3 */
  140, 0,   0,   /* 4 */
  150, 90,  0,   /* 5 */
  160, 0,   100, /* 6 */
  170, 110, 120, /* 7 */
  180, 0,   0,   /* 8 */
  190, 130, 0,   /* 9 */
  200, 0,   140, /* 10 */
  210, 150, 160, /* 11 */
};

static const int present_one[NS * NK] = {
  0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, /* 0-3 */
  0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, /* 4-7 */
  0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, /* 8-11 */
};

static const int ok_one[NS] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 };
static const int ok_all[NS] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

/* Spectra in group 0 are the even ones, group 1 the odd ones. */
static const int group[NS] = { 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 };
static const double group_value[2] = { 0, 5 };

typedef struct fixture
{
  double counts[NS * NK]; /* m.one's estimates */
  int perfect[NS * NK];   /* m.two: the true sets */
  gs_report_method methods[3];
  gs_report_input in;
  char *dir;
} fixture;

static void
fixture_init (fixture *f, int with_perfect)
{
  size_t i;
  memset (f, 0, sizeof *f);
  /* Counts are the truth, except Co60 in spectrum 3: 77 for 70 (+10 %).
   * RAE over the 21 present pairs of the 11 spectra: 0.1 / 21 = 0.48 %. */
  for (i = 0; i < NS * NK; i++)
    {
      f->counts[i] = truth[i];
      f->perfect[i] = i % NK != 0 && truth[i] > 0;
    }
  f->counts[3 * NK + 1] = 77;
  f->methods[0].id = "m.one";
  f->methods[0].kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY;
  f->methods[0].ok = ok_one;
  f->methods[0].present = present_one;
  f->methods[0].counts = f->counts;
  f->methods[0].calibrated = 0;
  f->methods[0].train_seconds = 1.5;
  f->methods[0].median_ms = 0.25;
  f->methods[0].p95_ms = 0.5;
  f->methods[0].n_failed_spectra = 1;
  f->methods[1].id = "m.fail";
  f->methods[1].kinds = GS_KIND_IDENTIFY | GS_KIND_QUANTIFY;
  f->methods[1].failed = 1;
  f->methods[1].error = "killed by signal 11 (Segmentation fault)";
  f->methods[1].train_seconds = NAN;
  f->methods[1].median_ms = NAN;
  f->methods[1].p95_ms = NAN;
  f->methods[2].id = "m.two";
  f->methods[2].kinds = GS_KIND_IDENTIFY;
  f->methods[2].ok = ok_all;
  f->methods[2].present = f->perfect;
  f->dir = gs_test_tmpdir ();
  f->in.name = "report-test";
  f->in.config = "exp.yaml";
  f->in.hash = "abc123";
  f->in.seed = 7;
  f->in.target_fpr = 0.01;
  f->in.library = "embedded";
  f->in.test_name = "test";
  f->in.caption = "Scenario 1: known signatures";
  f->in.n = NS;
  f->in.K = NK;
  f->in.names = names;
  f->in.truth = truth;
  f->in.truth_is_counts = 1;
  f->in.methods = f->methods;
  f->in.n_methods = with_perfect ? 3 : 2;
  f->in.out_dir = f->dir;
}

static void
fixture_fini (fixture *f)
{
  if (f->dir)
    gs_test_rmtree (f->dir);
  free (f->dir);
}

static size_t
count_lines (const char *s)
{
  size_t n = 0;
  for (; s && *s; s++)
    n += *s == '\n';
  return n;
}

static char *
read_out (const fixture *f, const char *rel)
{
  char *path = gs__path_join (f->dir, rel), *data = NULL;
  size_t len;
  if (path && gs__read_file (path, &data, &len) != GS_OK)
    data = NULL;
  free (path);
  return data;
}

static int
nonempty_file (const fixture *f, const char *rel)
{
  char *path = gs__path_join (f->dir, rel);
  struct stat st;
  int ok
      = path && stat (path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size > 0;
  if (!ok)
    fprintf (stderr, "\n  missing or empty: %s\n", rel);
  free (path);
  return ok;
}

static void
test_tables (void)
{
  fixture f;
  gs__buf md, js, md2, js2;
  char *csv;
  fixture_init (&f, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f.dir);
  gs__buf_init (&md);
  gs__buf_init (&js);
  gs__buf_init (&md2);
  gs__buf_init (&js2);
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (md.data);
  CU_ASSERT_PTR_NOT_NULL_FATAL (js.data);
  GS_ASSERT_CONTAINS (md.data, "# report-test\n");
  GS_ASSERT_CONTAINS (md.data, "Scenario 1: known signatures");
  GS_ASSERT_CONTAINS (md.data, "| | Accuracy | PPR | FPrR | FPR | FNR |");
  /* The hand computation above. */
  GS_ASSERT_CONTAINS (md.data,
                      "| m.one | 86.36 | 72.73 | 27.27 | 18.18 | 9.09 |");
  GS_ASSERT_CONTAINS (md.data, "| m.fail | failed |");
  GS_ASSERT_CONTAINS (md.data, "95 % Wilson intervals");
  GS_ASSERT_CONTAINS (md.data, "### FPR by total counts");
  GS_ASSERT_CONTAINS (md.data, "### FPR by number of present nuclides");
  GS_ASSERT_CONTAINS (md.data, "### Per-nuclide accuracy");
  /* Co60 wrong in 4, 5, 6 of 11; Cs137 right everywhere. */
  GS_ASSERT_CONTAINS (md.data, "| Co60 | 72.73 | failed |");
  GS_ASSERT_CONTAINS (md.data, "| Cs137 | 100.00 | failed |");
  CU_ASSERT_PTR_NULL (strstr (md.data, "| Bkg |"));
  GS_ASSERT_CONTAINS (md.data, "## Quantification");
  GS_ASSERT_CONTAINS (md.data, "| | MSE (1e-5) | RAE (%) |");
  GS_ASSERT_CONTAINS (md.data, " | 0.48 |\n");
  /* Co60 signed errors: 0 except +10 % once. */
  GS_ASSERT_CONTAINS (md.data, "### Relative error by counts");
  GS_ASSERT_CONTAINS (md.data, "## Timing");
  GS_ASSERT_CONTAINS (md.data, "| m.one | 1.500 | 0.250 | 0.500 | 1 | ok |");
  GS_ASSERT_CONTAINS (md.data,
                      "failed: killed by signal 11 (Segmentation fault)");
  /* One identification method: no paired comparison, no group. */
  CU_ASSERT_PTR_NULL (strstr (md.data, "McNemar"));
  CU_ASSERT_PTR_NULL (strstr (md.data, "### By "));
  CU_ASSERT_PTR_NULL (strstr (md.data, "## Figures"));
  /* JSON: FPR 2 of 11. */
  GS_ASSERT_CONTAINS (js.data, "\"fpr\": {\"value\": 0.18181818181818182, "
                               "\"k\": 2, \"n\": 11, \"ci95\": [");
  GS_ASSERT_CONTAINS (js.data, "\"rae_pairs\": 21");
  GS_ASSERT_CONTAINS (js.data, "\"status\": \"failed\", \"error\": "
                               "\"killed by signal 11 (Segmentation "
                               "fault)\"");
  GS_ASSERT_CONTAINS (js.data, "\"mcnemar\": []}");
  CU_ASSERT_EQUAL (js.data[0], '{');
  /* CSV: header + 2 methods. */
  csv = read_out (&f, "tables/identification.csv");
  CU_ASSERT_PTR_NOT_NULL (csv);
  CU_ASSERT_EQUAL (count_lines (csv), 3);
  GS_ASSERT_CONTAINS (csv, "m.one,ok,11,19,");
  GS_ASSERT_CONTAINS (csv, "m.fail,failed,0,");
  free (csv);
  csv = read_out (&f, "tables/recall_by_counts.csv");
  /* header + 2 nuclides x 20 bins */
  CU_ASSERT_EQUAL (count_lines (csv), 41);
  free (csv);
  csv = read_out (&f, "tables/relerr_by_counts.csv");
  CU_ASSERT_EQUAL (count_lines (csv), 21);
  free (csv);
  csv = read_out (&f, "tables/quantification.csv");
  CU_ASSERT_EQUAL (count_lines (csv), 3);
  free (csv);
  csv = read_out (&f, "tables/fpr_by_counts.csv");
  CU_ASSERT_EQUAL (count_lines (csv), 1 + 3 + 10);
  free (csv);
  CU_ASSERT (nonempty_file (&f, "tables/fpr_by_npresent.csv"));
  CU_ASSERT (nonempty_file (&f, "tables/component_accuracy.csv"));
  CU_ASSERT (access (f.dir, F_OK) == 0);
  /* Deterministic: a second run gives the same bytes. */
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md2, &js2), GS_OK);
  CU_ASSERT_EQUAL (md.len, md2.len);
  CU_ASSERT_EQUAL (js.len, js2.len);
  CU_ASSERT (md2.data && strcmp (md.data, md2.data) == 0);
  CU_ASSERT (js2.data && strcmp (js.data, js2.data) == 0);
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  gs__buf_fini (&md2);
  gs__buf_fini (&js2);
  fixture_fini (&f);
}

static void
test_plots (void)
{
  fixture f;
  gs__buf md, js;
  int have = access ("/usr/bin/gnuplot", X_OK) == 0;
  fixture_init (&f, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f.dir);
  f.in.plots = 1;
  f.in.group = group;
  f.in.G = 2;
  f.in.group_value = group_value;
  f.in.group_title = "steel thickness (mm)";
  gs__buf_init (&md);
  gs__buf_init (&js);
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (md.data);
  GS_ASSERT_CONTAINS (md.data, "## Figures");
  CU_ASSERT (nonempty_file (&f, "plots/fpr_vs_counts.gp"));
  CU_ASSERT (nonempty_file (&f, "plots/fpr_vs_counts.dat"));
  CU_ASSERT (nonempty_file (&f, "plots/fpr_vs_npresent.gp"));
  CU_ASSERT (nonempty_file (&f, "plots/recall_vs_counts.gp"));
  CU_ASSERT (nonempty_file (&f, "plots/relerr_m_one.gp"));
  CU_ASSERT (nonempty_file (&f, "plots/by_group.gp"));
  if (!have)
    {
      printf ("SKIP report plots: /usr/bin/gnuplot not found\n");
      GS_ASSERT_CONTAINS (md.data, "gnuplot <file>.gp");
    }
  else
    {
      static const char *const figs[]
          = { "fpr_vs_counts", "fpr_vs_npresent", "recall_vs_counts",
              "relerr_m_one", "by_group" };
      size_t i;
      char rel[64];
      for (i = 0; i < sizeof figs / sizeof *figs; i++)
        {
          snprintf (rel, sizeof rel, "plots/%s.svg", figs[i]);
          CU_ASSERT (nonempty_file (&f, rel));
          snprintf (rel, sizeof rel, "plots/%s.png", figs[i]);
          CU_ASSERT (nonempty_file (&f, rel));
        }
      GS_ASSERT_CONTAINS (md.data, "![FPR vs counts](plots/fpr_vs_counts.svg)");
      CU_ASSERT_PTR_NULL (strstr (md.data, "Warning: gnuplot"));
    }
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  fixture_fini (&f);
}

static void
test_groups (void)
{
  fixture f;
  gs__buf md, js;
  char *csv;
  fixture_init (&f, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f.dir);
  f.in.group = group;
  f.in.G = 2;
  f.in.group_value = group_value;
  f.in.group_title = "steel thickness (mm)";
  gs__buf_init (&md);
  gs__buf_init (&js);
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (md.data);
  GS_ASSERT_CONTAINS (md.data, "### By steel thickness (mm)");
  GS_ASSERT_CONTAINS (md.data, "| steel thickness (mm) | n | m.one FPR | "
                               "m.one FNR | m.fail FPR | m.fail FNR | "
                               "m.two FPR | m.two FNR |");
  /* Group 0 (even): m.one has FP in 4 and 6 of 6, no FN.  Group 1 (odd,
   * 11 excluded for m.one): FN in 5 of 5. */
  GS_ASSERT_CONTAINS (md.data, "| 0 | 6 | 33.33 | 0.00 | failed | failed | "
                               "0.00 | 0.00 |");
  GS_ASSERT_CONTAINS (md.data, "| 5 | 6 | 0.00 | 20.00 | failed | failed | "
                               "0.00 | 0.00 |");
  /* McNemar over the 11 spectra both have: m.one wrong in 3 where m.two
   * is right; exact p = 2 * 0.5^3. */
  GS_ASSERT_CONTAINS (md.data, "### Paired comparison (McNemar)");
  GS_ASSERT_CONTAINS (md.data,
                      "| m.one | m.two | 11 | 0 | 3 | 0 | 0.25 | exact |");
  GS_ASSERT_CONTAINS (js.data, "\"n01\": 0, \"n10\": 3");
  GS_ASSERT_CONTAINS (js.data, "\"by_group\": [{\"group\": 0, \"value\": 0, "
                               "\"n\": 6, \"fpr\": {\"value\": ");
  csv = read_out (&f, "tables/by_group.csv");
  /* header + 2 usable methods x 2 groups */
  CU_ASSERT_EQUAL (count_lines (csv), 5);
  free (csv);
  csv = read_out (&f, "tables/by_group_level.csv");
  CU_ASSERT_EQUAL (count_lines (csv), 1 + 2 * 2 * 3);
  free (csv);
  csv = read_out (&f, "tables/mcnemar.csv");
  CU_ASSERT_EQUAL (count_lines (csv), 2);
  GS_ASSERT_CONTAINS (csv, "m.one,m.two,11,0,3,0,0.25,exact");
  free (csv);
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  fixture_fini (&f);
}

static void
test_bad_input (void)
{
  fixture f;
  gs__buf md, js;
  int bad_group[NS];
  fixture_init (&f, 0);
  gs__buf_init (&md);
  gs__buf_init (&js);
  CU_ASSERT_NOT_EQUAL (gs_report_write (NULL, &md, &js), GS_OK);
  CU_ASSERT_NOT_EQUAL (gs_report_write (&f.in, NULL, &js), GS_OK);
  f.in.methods = NULL;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_EINVAL);
  f.in.methods = f.methods;
  f.in.K = 0;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_EINVAL);
  f.in.K = NK;
  f.in.target_fpr = 0;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_EINVAL);
  f.in.target_fpr = 0.01;
  memcpy (bad_group, group, sizeof bad_group);
  bad_group[3] = 2;
  f.in.group = bad_group;
  f.in.G = 2;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_EINVAL);
  f.in.group = NULL;
  f.in.G = 0;
  f.methods[0].present = NULL;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_EINVAL);
  CU_ASSERT_EQUAL (md.len, 0);
  CU_ASSERT_EQUAL (js.len, 0);
  /* No truth: only the timings. */
  f.in.truth = NULL;
  CU_ASSERT_EQUAL (gs_report_write (&f.in, &md, &js), GS_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL (md.data);
  CU_ASSERT_PTR_NULL (strstr (md.data, "## Identification"));
  GS_ASSERT_CONTAINS (md.data, "## Timing");
  gs__buf_fini (&md);
  gs__buf_fini (&js);
  fixture_fini (&f);
}

void gs_test_register_report (void);
void
gs_test_register_report (void)
{
  CU_pSuite s = CU_add_suite ("report", NULL, NULL);
  CU_add_test (s, "tables, JSON and CSV", test_tables);
  CU_add_test (s, "figures with gnuplot", test_plots);
  CU_add_test (s, "breakdown by group, McNemar", test_groups);
  CU_add_test (s, "bad input", test_bad_input);
}
