/* Metrics against hand-computed cases. */
#include <CUnit/CUnit.h>
#include <math.h>

#include "gspec/metrics.h"
#include "test_util.h"

static void
test_wilson (void)
{
  /* 1 of 3 at 95 %: z = 1.959964, p = 1/3, den = 1 + z^2/3;
   * centre = (p + z^2/6) / den, half = z sqrt(p(1-p)/3 + z^2/36) / den
   * gives [0.0614919, 0.7923404]. */
  gs_rate r = gs_rate_wilson (1, 3, 0.95);
  CU_ASSERT_DOUBLE_EQUAL (r.value, 1.0 / 3.0, 1e-15);
  CU_ASSERT_DOUBLE_EQUAL (r.lo, 0.0614919, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL (r.hi, 0.7923404, 1e-6);
  /* 0 of 10: lower bound 0, upper z^2/(n+z^2) = 0.2775328. */
  r = gs_rate_wilson (0, 10, 0.95);
  CU_ASSERT_DOUBLE_EQUAL (r.lo, 0.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL (r.hi, 0.2775328, 1e-6);
  r = gs_rate_wilson (0, 0, 0.95);
  CU_ASSERT (isnan (r.value));
}

static void
test_identification (void)
{
  /* Columns: background, A, B, C.  Spectra:
   * 0: truth {A},   pred {A, C}  -> FP only
   * 1: truth {A,B}, pred {A}     -> FN only
   * 2: truth {},    pred {}      -> correct
   * 3: truth {A},   pred {B}     -> FP and FN
   * The background column is ignored (pred says absent, truth present). */
  const double truth[16] = { 10, 5, 0, 0, 10, 5, 5, 0,
                             10, 0, 0, 0, 10, 5, 0, 0 };
  const int present[16] = { 0, 1, 0, 1, 0, 1, 0, 0,
                            0, 0, 0, 0, 0, 0, 1, 0 };
  gs_ident_metrics m;
  CU_ASSERT_EQUAL (gs_metrics_identification (4, 4, truth, present, 0, &m),
                   0);
  CU_ASSERT_EQUAL (m.ppr.k, 1);
  CU_ASSERT_EQUAL (m.fprr.k, 3);
  CU_ASSERT_EQUAL (m.fpr.k, 2);
  CU_ASSERT_EQUAL (m.fnr.k, 2);
  CU_ASSERT_EQUAL (m.ppr.n, 4);
  /* Hamming: 2 + 2 + 3 + 1 correct labels of 12. */
  CU_ASSERT_EQUAL (m.accuracy.k, 8);
  CU_ASSERT_EQUAL (m.accuracy.n, 12);
  /* With the background: every spectrum misses it. */
  CU_ASSERT_EQUAL (gs_metrics_identification (4, 4, truth, present, 1, &m),
                   0);
  CU_ASSERT_EQUAL (m.fnr.k, 4);
  CU_ASSERT_EQUAL (m.ppr.k, 0);
}

static void
test_quantification (void)
{
  const double truth[6] = { 50, 50, 0, 100, 0, 300 };
  const double est[6] = { 40, 60, 0, 100, 0, 300 };
  const double bad[6] = { 40, NAN, 0, 100, 0, 300 };
  gs_quant_metrics q;
  CU_ASSERT_EQUAL (gs_metrics_quantification (2, 3, truth, est, &q), 0);
  /* (0.1^2 + 0.1^2) / 6 */
  CU_ASSERT_DOUBLE_EQUAL (q.mse_weights, 0.02 / 6, 1e-15);
  /* pairs: 0.2, 0.2, 0, 0 */
  CU_ASSERT_EQUAL (q.rae_pairs, 4);
  CU_ASSERT_DOUBLE_EQUAL (q.rae, 0.1, 1e-15);
  CU_ASSERT_NOT_EQUAL (gs_metrics_quantification (2, 3, truth, bad, &q), 0);
}

void gs_test_register_metrics (void);
void
gs_test_register_metrics (void)
{
  CU_pSuite s = CU_add_suite ("metrics", NULL, NULL);
  CU_add_test (s, "Wilson interval", test_wilson);
  CU_add_test (s, "identification per spectrum", test_identification);
  CU_add_test (s, "quantification", test_quantification);
}
