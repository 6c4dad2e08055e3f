/* MoSeVa (gs_moseva, spec 3.5) on the authors' notebook example, single
 * thread: seconds per spectrum, IAE decodes per second, and the ratio to
 * the authors' 47 s for the same call on this machine class (spec 3.5,
 * reproduction note).  Also times the fixed-support BCD [0, 4, 1, 11, 2]
 * and a bare gs_iae_decode.
 *
 * usage:
 *   gspec_bench_moseva DATA_ROOT [N [TOL_BSP]]
 *       DATA_ROOT is the folder holding gammabench/ (e.g.
 *       ../shared/data); N the number of MoSeVa runs (default 3).
 *       The spectrum is `y` of gammabench/reference/pomp_example.json,
 *       X0 the 12-nuclide signatures at thickness 0, a0 = sum (X a_true)
 *       / 13 with X at thickness 70 (as tests/test_semsun.c), and the
 *       notebook's options (alpha 0.01, turn 2, tol 1e-4, 30 outer
 *       iterations, 100 Brent iterations) with Brent's interval tolerance
 *       TOL_BSP on lambda_0 (default: the library's, 1e-5; the notebook's
 *       tol_BSP 1e-8 is a relative tolerance of L-BFGS-B on the cost,
 *       see gspec/semsun.h).
 * Prints MOSEVA_S <s/spectrum>, BCD_S, DECODE_MS and the ratio. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "gspec/iae.h"
#include "gspec/library.h"
#include "gspec/semsun.h"
#include "util.h"

#define L_ 1024
#define K_ 13
#define C_ 12
/* The authors' MoSeVa on this example (spec 3.5, reproduction note). */
#define REFERENCE_S 47.0

static const char *names[C_]
    = { "Co60", "Ba133", "Co57", "Cs137", "Eu152", "Am241",
        "Y88",  "Bi207", "I123", "I131",  "Tc99m", "Ga67" };

static int
fail (void)
{
  fprintf (stderr, "gspec_bench_moseva: %s\n", gs_last_error ());
  return 1;
}

/* The numbers of the first array `"key": [` in text (at most max). */
static size_t
json_array (const char *text, const char *key, double *out, size_t max)
{
  char pat[64];
  const char *p;
  size_t n = 0;
  snprintf (pat, sizeof pat, "\"%s\": [", key);
  p = strstr (text, pat);
  if (!p)
    return 0;
  p += strlen (pat);
  while (*p && *p != ']' && n < max)
    {
      char *end;
      if (*p == ',' || *p == ' ' || *p == '\n')
        {
          p++;
          continue;
        }
      out[n++] = strtod (p, &end);
      if (end == p)
        return 0;
      p = end;
    }
  return n;
}

static int
load_library (const char *root, size_t thick, gs_library **lib)
{
  gs_gammabench_opts o;
  gs_gammabench_opts_init (&o, root);
  o.nuclides = names;
  o.n_nuclides = C_;
  o.thickness_index = thick;
  return gs_library_load_gammabench (&o, lib);
}

int
main (int argc, char **argv)
{
  static const double frac[K_]
      = { 0.5, 0.15, 0.15, 0, 0.1, 0, 0, 0, 0, 0, 0, 0.1, 0 };
  static const size_t iden[5] = { 0, 4, 1, 11, 2 };
  static double y[L_], a0[K_];
  static gs_moseva_result r;
  static gs_semsun_fit f;
  char *root, *json, *f32, *ex, *text = NULL;
  gs_library *X = NULL, *X0 = NULL;
  gs_iae *m = NULL;
  gs_semsun_ws *w = NULL;
  gs_semsun_opts o;
  double s = 0, t0, dt_m = 0, dt_b = 0, dt_d = 0, lam[2];
  long n = 3;
  int i, evals_m = 0, nd = 0;
  size_t j, k;
  gs_semsun_opts_init (&o);
  if (argc < 2 || argc > 4
      || (argc >= 3 && (gs__parse_long (argv[2], &n) != GS_OK || n < 1))
      || (argc == 4
          && (gs__parse_double (argv[3], &o.tol_bsp) != GS_OK
              || !(o.tol_bsp > 0))))
    {
      fprintf (stderr, "usage: gspec_bench_moseva DATA_ROOT [N [TOL_BSP]]\n");
      return 2;
    }
  gs_core_init ();
  root = gs__path_join (argv[1], "gammabench");
  json = gs__path_join (root, "reference/iae/iae_weights.json");
  f32 = gs__path_join (root, "reference/iae/iae_weights.f32");
  ex = gs__path_join (root, "reference/pomp_example.json");
  if (gs__read_file (ex, &text, NULL) != GS_OK
      || json_array (text, "y", y, L_) != L_
      || gs_iae_import_pretrained (json, f32, &m) != GS_OK
      || load_library (root, 70, &X) != GS_OK
      || load_library (root, 0, &X0) != GS_OK
      || gs_semsun_ws_alloc (m, L_, &w) != GS_OK)
    return fail ();
  for (j = 0; j < L_; j++)
    for (k = 0; k < K_; k++)
      s += X->signatures[j * K_ + k] * 2500 * frac[k];
  for (k = 0; k < K_; k++)
    a0[k] = s / 13;
  o.alpha = 0.01;
  o.turn = 2;
  o.tol = 1e-4;
  o.niter_max_out = 30;
  o.niter_max_bsp = 100;
  for (i = 0; i < n; i++)
    {
      t0 = gs__now ();
      if (gs_moseva (w, y, L_, X0->signatures, K_, a0, &o, &r, NULL) != GS_OK)
        return fail ();
      dt_m += gs__now () - t0;
      evals_m += r.evals;
      t0 = gs__now ();
      if (gs_semsun_bcd (w, y, L_, X0->signatures, K_, a0, iden, 5, NULL, &o,
                         &f, NULL)
          != GS_OK)
        return fail ();
      dt_b += gs__now () - t0;
    }
  {
    size_t bytes = gs_iae_decode_bytes (m, 1);
    void *work = malloc (bytes);
    float *xf = malloc (L_ * C_ * sizeof *xf);
    if (!work || !xf)
      return 1;
    t0 = gs__now ();
    do
      {
        lam[0] = 0.01 * (nd % 100);
        lam[1] = 1 - lam[0];
        if (gs_iae_decode (m, work, bytes, lam, 1, xf) != GS_OK)
          return fail ();
        nd++;
        dt_d = gs__now () - t0;
      }
    while (dt_d < 1.0);
    free (work);
    free (xf);
  }
  printf ("MoSeVa (notebook example, 1 thread, %ld runs, tol_bsp %g): Iden", n,
          o.tol_bsp);
  for (j = 0; j < r.n_support; j++)
    printf (" %zu", r.support[j]);
  printf (", lambda_0 %.7f, loss %.6f, %d fits, %d decodes\n", r.lambda[0],
          r.loss, r.fits, r.evals);
  printf ("BCD [0,4,1,11,2]: lambda_0 %.7f, loss %.6f, %d iterations, "
          "%d decodes\n",
          f.lambda[0], f.loss[f.n_loss - 1], f.iterations, f.evals);
  printf ("MOSEVA_S %.4f\n", dt_m / (double)n);
  printf ("MOSEVA_DECODES_PER_S %.0f\n", evals_m / dt_m);
  printf ("BCD_S %.4f\n", dt_b / (double)n);
  printf ("DECODE_MS %.4f\n", 1e3 * dt_d / nd);
  printf ("ratio authors (%.0f s)/gspec: %.1fx (goal >= 20x)\n", REFERENCE_S,
          REFERENCE_S * (double)n / dt_m);
  gs_semsun_ws_free (w);
  gs_iae_free (m);
  gs_library_free (X);
  gs_library_free (X0);
  free (text);
  free (root);
  free (json);
  free (f32);
  free (ex);
  return 0;
}
