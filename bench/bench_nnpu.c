/* NNPU speed: gspec's projected Newton against the reference algorithm
 * (spec 3.2 multiplicative updates, 1000 iterations / tol 1e-6), both in
 * C here and in Python (bench/reference_nnpu.py) on identical spectra.
 *
 * usage: gspec_bench_nnpu LIBRARY.yaml N SEED OUT.npy
 * Draws N seeded mixtures from the library, writes them to OUT.npy (for
 * the Python side), times both C solvers on one thread and prints
 * ms/spectrum and the largest relative count difference between them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "gspec/core.h"
#include "gspec/poisson.h"
#include "gspec/spectra.h"
#include "gspec/synth.h"
#include "util.h"

int
main (int argc, char **argv)
{
  gs_library *lib = NULL;
  gs_synth *s = NULL;
  gs_synth_opts o;
  gs_poisson_ws *w;
  double *Y, *A, *B, t0, t_newton, t_em, maxrel = 0;
  size_t n, i, j, K, C;
  long nl, seed;
  if (argc != 5 || gs__parse_long (argv[2], &nl) != GS_OK || nl < 1
      || gs__parse_long (argv[3], &seed) != GS_OK)
    {
      fprintf (stderr, "usage: %s LIBRARY.yaml N SEED OUT.npy\n", argv[0]);
      return 2;
    }
  gs_core_init ();
  if (gs_library_load_file (argv[1], &lib) != GS_OK)
    {
      fprintf (stderr, "%s\n", gs_last_error ());
      return 1;
    }
  n = (size_t)nl;
  K = lib->n_components;
  C = lib->n_channels;
  gs_synth_opts_init (&o);
  o.n_spectra = n;
  o.seed = (uint64_t)seed;
  if (gs_synth_generate (lib, &o, &s) != GS_OK)
    {
      fprintf (stderr, "%s\n", gs_last_error ());
      return 1;
    }
  Y = malloc (n * C * sizeof (double));
  A = malloc (n * K * sizeof (double));
  B = malloc (n * K * sizeof (double));
  for (i = 0; i < n; i++)
    gs_synth_spectrum (s, i, Y + i * C);
  if (gs_npy_write_matrix (argv[4], Y, n, C) != GS_OK)
    {
      fprintf (stderr, "%s\n", gs_last_error ());
      return 1;
    }
  {
    char *p = gs__asprintf ("%s.library.npy", argv[4]);
    if (!p || gs_npy_write_matrix (p, lib->signatures, C, K) != GS_OK)
      {
        fprintf (stderr, "%s\n", gs_last_error ());
        return 1;
      }
    free (p);
  }
  w = gs_poisson_ws_alloc (C, K);
  t0 = gs__now ();
  for (i = 0; i < n; i++)
    gs_nnpu (w, lib->signatures, K, C, NULL, K, Y + i * C, NULL, A + i * K,
             NULL);
  t_newton = (gs__now () - t0) / (double)n;
  t0 = gs__now ();
  for (i = 0; i < n; i++)
    {
      int it;
      gs_nnpu_em (lib->signatures, K, C, NULL, K, Y + i * C, NULL, 1000, 1e-6,
                  0, B + i * K, &it);
    }
  t_em = (gs__now () - t0) / (double)n;
  /* Agreement on components above 1 % of the spectrum's counts (the EM's
   * tol = 1e-6 stopping leaves small components less converged). */
  for (i = 0; i < n; i++)
    {
      double tot = 0;
      for (j = 0; j < K; j++)
        tot += A[i * K + j];
      for (j = 0; j < K; j++)
        if (A[i * K + j] > 0.01 * tot)
          {
            double r = fabs (A[i * K + j] - B[i * K + j]) / A[i * K + j];
            if (r > maxrel)
              maxrel = r;
          }
    }
  printf ("spectra %zu, channels %zu, components %zu\n", n, C, K);
  printf ("gspec newton (C, 1 thread):        %8.4f ms/spectrum\n",
          1e3 * t_newton);
  printf ("reference EM (C port, 1 thread):   %8.4f ms/spectrum  "
          "(ratio %.1fx)\n",
          1e3 * t_em, t_em / t_newton);
  printf ("max relative count difference newton vs EM (components > 1 %%):"
          " %.2e\n",
          maxrel);
  {
    char *p = gs__asprintf ("%s.counts.txt", argv[4]);
    FILE *f = p ? fopen (p, "w") : NULL;
    if (f)
      {
        for (i = 0; i < n * K; i++)
          fprintf (f, "%.17g\n", A[i]);
        fclose (f);
      }
    free (p);
  }
  printf ("NEWTON_MS %.6f\n", 1e3 * t_newton);
  gs_poisson_ws_free (w);
  gs_synth_free (s);
  gs_library_free (lib);
  free (Y);
  free (A);
  free (B);
  return 0;
}
