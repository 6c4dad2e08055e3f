/* The seeded mixture generator: determinism and the sampler's rules. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/synth.h"
#include "test_util.h"

static gs_library *
lib10 (void)
{
  static const char *names[] = { "background", "Co60",  "Ba133", "Co57",
                                 "Cs137",      "Eu152", "Am241", "I123",
                                 "I131",       "Tc99m" };
  gs_library *lib = gs_library_alloc (64, 10);
  size_t i, j;
  for (i = 0; i < 64; i++)
    for (j = 0; j < 10; j++)
      lib->signatures[i * 10 + j] = 1.0 + (double)((i * 7 + j * 13) % 11);
  for (j = 0; j < 10; j++)
    gs_library_set_name (lib, j, names[j]);
  gs_library_set_linear_grid (lib, 20, 2);
  gs_library_normalise (lib);
  return lib;
}

static void
test_rules (void)
{
  gs_library *lib = lib10 ();
  gs_synth_opts o;
  gs_synth *s = NULL;
  size_t i, j, count[5] = { 0 };
  const size_t n = 20000;
  gs_synth_opts_init (&o);
  o.n_spectra = n;
  o.seed = 3;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &s), 0);
  for (i = 0; i < n; i++)
    {
      const double *a = s->truth + i * 10;
      size_t k = 0;
      double tot = 0;
      for (j = 0; j < 10; j++)
        {
          CU_ASSERT (a[j] == floor (a[j]) && a[j] >= 0);
          tot += a[j];
        }
      for (j = 1; j < 10; j++)
        k += a[j] > 0;
      CU_ASSERT_FATAL (k <= 4);
      count[k]++;
      /* Truncation keeps the total within one count per component of
       * [200, 1e5]. */
      CU_ASSERT (tot <= 1e5 && tot >= 200 - 10);
      if (k > 0)
        {
          /* Minimum counts: background > 125, Co60/Cs137/Eu152 > 100,
           * others > 50 (strict before truncation, so >= after). */
          CU_ASSERT (a[0] >= 125);
          for (j = 1; j < 10; j++)
            if (a[j] > 0)
              CU_ASSERT (a[j] >= ((j == 1 || j == 4 || j == 5) ? 100 : 50));
        }
    }
  /* Uniform over 0..4: each fraction 0.2 within 5 sigma
   * (sigma = sqrt(0.2*0.8/n) = 0.0028). */
  for (j = 0; j < 5; j++)
    CU_ASSERT (fabs ((double)count[j] / (double)n - 0.2) < 0.015);
  gs_synth_free (s);
  gs_library_free (lib);
}

static void
test_determinism (void)
{
  gs_library *lib = lib10 ();
  gs_synth_opts o;
  gs_synth *a = NULL, *b = NULL;
  double y1[64], y2[64];
  gs_synth_opts_init (&o);
  o.n_spectra = 50;
  o.seed = 42;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &a), 0);
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &b), 0);
  CU_ASSERT_EQUAL (memcmp (a->truth, b->truth, 50 * 10 * sizeof (double)),
                   0);
  /* Spectrum 17 is the same whether drawn first or after others. */
  gs_synth_spectrum (a, 17, y1);
  gs_synth_spectrum (b, 3, y2);
  gs_synth_spectrum (b, 17, y2);
  CU_ASSERT_EQUAL (memcmp (y1, y2, sizeof y1), 0);
  /* Another seed gives another table. */
  gs_synth_free (b);
  o.seed = 43;
  CU_ASSERT_EQUAL_FATAL (gs_synth_generate (lib, &o, &b), 0);
  CU_ASSERT_NOT_EQUAL (memcmp (a->truth, b->truth, 50 * 10 * sizeof (double)),
                       0);
  gs_synth_free (a);
  gs_synth_free (b);
  gs_library_free (lib);
}

static void
test_bad_options (void)
{
  gs_library *lib = lib10 ();
  gs_synth_opts o;
  gs_synth *s = NULL;
  gs_synth_opts_init (&o);
  o.max_active = 12;
  CU_ASSERT_NOT_EQUAL (gs_synth_generate (lib, &o, &s), 0);
  GS_ASSERT_CONTAINS (gs_last_error (), "max_active");
  gs_synth_opts_init (&o);
  o.counts_min = 500;
  o.counts_max = 100;
  CU_ASSERT_NOT_EQUAL (gs_synth_generate (lib, &o, &s), 0);
  gs_synth_opts_init (&o);
  o.counts_max = 250; /* 4 nuclides can never reach their minima */
  o.counts_min = 200;
  CU_ASSERT_NOT_EQUAL (gs_synth_generate (lib, &o, &s), 0);
  GS_ASSERT_CONTAINS (gs_last_error (), "minimum counts cannot be met");
  CU_ASSERT_PTR_NULL (s);
  gs_library_free (lib);
}

void gs_test_register_synth (void);
void
gs_test_register_synth (void)
{
  CU_pSuite s = CU_add_suite ("synth", NULL, NULL);
  CU_add_test (s, "sampler rules", test_rules);
  CU_add_test (s, "determinism", test_determinism);
  CU_add_test (s, "bad options", test_bad_options);
}
