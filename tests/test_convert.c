/* gspec convert and spectrum files in analyze (issue 9), end to end with
 * the command-line tool: a measured gamma_flow spectrum converted to SPE
 * and to N42 is analysed exactly as the labelled set it came from; a set
 * converted to N42 and back keeps counts, times and calibration; bad
 * usage gives clear messages. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gspec/formats.h"
#include "gspec/spectra.h"
#include "gspec/status.h"
#include "test_util.h"
#include "util.h"

/* Row `row` of a predictions CSV (0 = first data row) without its first
 * two columns (index, labels), or NULL. */
static char *
csv_row_values (const char *csv, size_t row)
{
  const char *p = csv, *e;
  size_t i;
  if (!p)
    return NULL;
  for (i = 0; i <= row; i++)
    {
      if (!(p = strchr (p, '\n')))
        return NULL;
      p++;
    }
  e = strchr (p, '\n');
  if (!e)
    return NULL;
  p = strchr (p, ',');
  p = p ? strchr (p + 1, ',') : NULL;
  return p && p < e ? gs__strndup (p + 1, (size_t)(e - p - 1)) : NULL;
}

static void
test_measured_spe_n42 (void)
{
  const char *data = gs_test_data_dir ("convert measured spectra");
  char *dir, cmd[8192], *a, *b, *c, *ra, *rb, *rc_;
  gs_spectra *orig = NULL, *back = NULL;
  char *set;
  size_t i;
  int st;
  if (!data)
    return;
  dir = gs_test_tmpdir ();
  setenv ("GSPEC_PLUGIN_PATH", GSPEC_PLUGIN_DIR, 1);
  snprintf (cmd, sizeof cmd,
            "cd '%s' && export GSPEC_DATA='%s' && G='%s/gspec' && "
            "S=$GSPEC_DATA/gamma_flow/Cs137inBlei_left && "
            "$G train '%s/configs/gammaflow-measured.yaml' --method "
            "ml.gammaflow --out tr --quiet > tr.log 2>&1 && "
            "$G convert $S one.spe --index 2 > cv1.log 2>&1 && "
            "$G convert $S one.n42 --index 2 > cv2.log 2>&1 && "
            "$G convert $S all.n42 > cv3.log 2>&1 && "
            "$G convert all.n42 back.counts.npy > cv4.log 2>&1 && "
            "$G analyze --model tr/models/ml.gammaflow.gsm --input $S "
            "--output set.csv --quiet > an1.log 2>&1 && "
            "$G analyze --model tr/models/ml.gammaflow.gsm --input one.spe "
            "--output spe.csv --quiet > an2.log 2>&1 && "
            "$G analyze --model tr/models/ml.gammaflow.gsm --input one.n42 "
            "--output n42.csv --quiet > an3.log 2>&1 && "
            "$G analyze --model tr/models/ml.gammaflow.gsm --input one.spe "
            "--list --quiet > list.txt 2>&1",
            dir, data, GSPEC_BUILD_DIR, GSPEC_SOURCE_DIR);
  st = system (cmd);
  CU_ASSERT_EQUAL_FATAL (st, 0);
  /* The SPE and N42 spectrum give row 2's numbers, digit for digit. */
  a = gs_test_slurp (dir, "set.csv");
  b = gs_test_slurp (dir, "spe.csv");
  c = gs_test_slurp (dir, "n42.csv");
  ra = csv_row_values (a, 2);
  rb = csv_row_values (b, 0);
  rc_ = csv_row_values (c, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL (ra);
  CU_ASSERT_PTR_NOT_NULL_FATAL (rb);
  CU_ASSERT_PTR_NOT_NULL_FATAL (rc_);
  if (strcmp (ra, rb) != 0 || strcmp (ra, rc_) != 0)
    printf ("\n  set row 2: %s\n  SPE:       %s\n  N42:       %s\n", ra, rb,
            rc_);
  CU_ASSERT_STRING_EQUAL (ra, rb);
  CU_ASSERT_STRING_EQUAL (ra, rc_);
  free (ra);
  free (rb);
  free (rc_);
  free (a);
  free (b);
  free (c);
  a = gs_test_slurp (dir, "list.txt");
  GS_ASSERT_CONTAINS (a, "spectrum 0:");
  GS_ASSERT_CONTAINS (a, "Cs137");
  GS_ASSERT_CONTAINS (a, " +- ");
  free (a);
  /* The whole set through N42 and back: counts and calibration. */
  set = gs__asprintf ("%s/gamma_flow/Cs137inBlei_left", data);
  CU_ASSERT_EQUAL_FATAL (gs_spectra_read (set, &orig), GS_OK);
  {
    char *p = gs__path_join (dir, "back");
    CU_ASSERT_EQUAL_FATAL (gs_spectra_read (p, &back), GS_OK);
    free (p);
  }
  CU_ASSERT_EQUAL_FATAL (back->n_spectra, orig->n_spectra);
  CU_ASSERT_EQUAL_FATAL (back->n_channels, orig->n_channels);
  CU_ASSERT (memcmp (back->counts, orig->counts,
                     orig->n_spectra * orig->n_channels * sizeof (double))
             == 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL (back->cal_offset);
  for (i = 0; i < orig->n_spectra; i++)
    {
      CU_ASSERT_DOUBLE_EQUAL (back->cal_offset[i], orig->cal_offset[i], 1e-9);
      CU_ASSERT_DOUBLE_EQUAL (back->cal_slope[i], orig->cal_slope[i], 1e-12);
      CU_ASSERT_DOUBLE_EQUAL (back->cal_quad[i], orig->cal_quad[i], 1e-14);
    }
  gs_spectra_free (orig);
  gs_spectra_free (back);
  free (set);
  /* Bad usage: clear messages, non-zero status. */
  snprintf (cmd, sizeof cmd,
            "cd '%s' && G='%s/gspec' && ! $G convert one.spe x.zzz > b1.log "
            "2>&1 && ! $G convert all.n42 x.spe > b2.log 2>&1 && ! $G "
            "convert one.spe x.spe --index 3 > b3.log 2>&1",
            dir, GSPEC_BUILD_DIR);
  st = system (cmd);
  CU_ASSERT_EQUAL (st, 0);
  a = gs_test_slurp (dir, "b1.log");
  GS_ASSERT_CONTAINS (a, "cannot tell the output format");
  free (a);
  a = gs_test_slurp (dir, "b2.log");
  GS_ASSERT_CONTAINS (a, "--index");
  free (a);
  a = gs_test_slurp (dir, "b3.log");
  GS_ASSERT_CONTAINS (a, "holds 1 spectra");
  free (a);
  unsetenv ("GSPEC_PLUGIN_PATH");
  gs_test_rmtree (dir);
  free (dir);
}

void gs_test_register_convert (void);
void
gs_test_register_convert (void)
{
  CU_pSuite s = CU_add_suite ("convert", NULL, NULL);
  CU_add_test (s, "measured spectrum as SPE and N42: same analysis",
               test_measured_spe_n42);
}
