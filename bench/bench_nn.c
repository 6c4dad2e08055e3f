/* Speed of the NN engine (gspec/nn.h) on the CNN architectures of issue 5,
 * against PyTorch's numbers from bench/reference_torch.py (bench/run.sh nn
 * prints the ratios).
 *   gspec_bench_nn ARCH [SECONDS] [lat|inf|train|all]
 * ARCH: cpu (conv 32/k20, 64/k16, 64/k16 + max-pool 2 + BN + ReLU; FC 128;
 * the plugins' `preset: cpu`) or turner (Turner et al. 2021's reference
 * model).  Prints, one per line:
 *   MACS m                multiply-adds per spectrum
 *   LAT1_MS t             batch-1 latency, 1 thread (gs_nn_infer)
 *   INF_SPS_B<b> s        inference spectra/s at batch b, 1 thread
 *   INF_SPS s             the best of them
 *   TRAIN_SPS s           training spectra/s on 2 threads (forward, loss,
 *                         backward, Adam), batch 512 (cpu) / 32 (turner)
 *   SGEMM_GFLOPS g        OpenBLAS sgemm 1024^3, 1 thread (this machine's
 *                         reachable peak)
 *   INF_GFLOPS g, TRAIN_GFLOPS g   what the engine reached */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gspec/core.h"
#include "gspec/nn.h"
#include "gspec/status.h"

static const char *const arch_cpu
    = "- {type: conv1d, out: 32, kernel: 20}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: batchnorm1d}\n"
      "- {type: relu}\n"
      "- {type: conv1d, out: 64, kernel: 16}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: batchnorm1d}\n"
      "- {type: relu}\n"
      "- {type: conv1d, out: 64, kernel: 16}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: batchnorm1d}\n"
      "- {type: relu}\n"
      "- {type: linear, out: 128}\n"
      "- {type: relu}\n"
      "- {type: dropout, p: 0.5}\n"
      "- {type: linear, out: 9, init: glorot}\n";

static const char *const arch_turner
    = "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: spatial_dropout, p: 0.5}\n"
      "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: spatial_dropout, p: 0.5}\n"
      "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: conv1d, out: 40, kernel: 7, padding: 3}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: maxpool1d, kernel: 2}\n"
      "- {type: spatial_dropout, p: 0.5}\n"
      "- {type: linear, out: 700}\n"
      "- {type: leakyrelu, slope: 0.1}\n"
      "- {type: dropout, p: 0.5}\n"
      "- {type: linear, out: 9, init: glorot}\n";

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void
fill (float *x, size_t n, size_t L, unsigned *state)
{
  size_t i, c;
  for (i = 0; i < n; i++)
    {
      double tot = 0;
      for (c = 0; c < L; c++)
        {
          *state = *state * 1664525u + 1013904223u;
          x[i * L + c] = (float)((*state >> 8) & 0xffff);
          tot += x[i * L + c];
        }
      for (c = 0; c < L; c++)
        x[i * L + c] = (float)(x[i * L + c] / tot);
    }
}

static int
fail (int rc)
{
  fprintf (stderr, "gspec_bench_nn: %s\n", gs_last_error ());
  return rc;
}

int
main (int argc, char **argv)
{
  const char *arch;
  double secs = argc > 2 ? atof (argv[2]) : 3.0, macs, t0, t, best = 0;
  const int L = 1024, n_out = 9, batches[] = { 1, 8, 32, 64, 128, 512 };
  int train_batch, reps, i, rc;
  gs_nn_opts o;
  gs_nn *nn;
  float *x, *y, *d, *tg;
  unsigned st = 12345;
  void *work;
  size_t wbytes, nb;
  gs_nn_optim *opt;
  gs_nn_optim_opts oo;
  const char *only = argc > 3 ? argv[3] : "all";
  int all = strcmp (only, "all") == 0;
  if (argc < 2 || (strcmp (argv[1], "cpu") && strcmp (argv[1], "turner")))
    {
      fprintf (stderr,
               "usage: gspec_bench_nn cpu|turner [SECONDS] "
               "[lat|inf|train|all]\n");
      return 2;
    }
  gs_core_init ();
  arch = strcmp (argv[1], "cpu") == 0 ? arch_cpu : arch_turner;
  train_batch = strcmp (argv[1], "cpu") == 0 ? 512 : 32;
  gs_nn_opts_init (&o);
  if ((rc = gs_nn_create (arch, 1, L, &o, &nn)) != GS_OK)
    return fail (rc);
  macs = gs_nn_macs (nn);
  printf ("MACS %.0f\n", macs);
  x = malloc ((size_t)512 * L * sizeof (float));
  y = malloc ((size_t)512 * n_out * sizeof (float));
  d = malloc ((size_t)512 * n_out * sizeof (float));
  tg = malloc ((size_t)512 * n_out * sizeof (float));
  if (!x || !y || !d || !tg)
    return 1;
  fill (x, 512, (size_t)L, &st);
  for (i = 0; i < 512 * n_out; i++)
    tg[i] = (float)((i * 7) % 3 == 0);
  /* batch-1 latency with the thread-safe inference path */
  gs_nn_set_mode (nn, GS_NN_EVAL);
  wbytes = gs_nn_infer_bytes (nn, 1);
  work = malloc (wbytes);
  if (!work)
    return 1;
  for (i = 0; i < 20; i++)
    gs_nn_infer (nn, work, wbytes, x, 1, y);
  if (!all && strcmp (only, "lat"))
    goto inference;
  reps = 0;
  t0 = now_s ();
  do
    {
      if ((rc = gs_nn_infer (nn, work, wbytes, x + (size_t)(reps % 512) * L,
                             1, y))
          != GS_OK)
        return fail (rc);
      reps++;
    }
  while ((t = now_s () - t0) < secs / 3);
  printf ("LAT1_MS %.4f\n", 1e3 * t / reps);
inference:
  if (!all && strcmp (only, "inf"))
    goto training;
  /* throughput at several batches, 1 thread */
  for (i = 0; i < (int)(sizeof batches / sizeof batches[0]); i++)
    {
      int b = batches[i], n = 0;
      double sps;
      gs_nn_forward (nn, x, b, y);
      t0 = now_s ();
      do
        {
          if ((rc = gs_nn_forward (nn, x, b, y)) != GS_OK)
            return fail (rc);
          n += b;
        }
      while ((t = now_s () - t0) < secs / 6);
      sps = n / t;
      printf ("INF_SPS_B%d %.1f\n", b, sps);
      if (sps > best)
        best = sps;
    }
  printf ("INF_SPS %.1f\n", best);
  printf ("INF_GFLOPS %.2f\n", 2 * macs * best * 1e-9);
training:
  if (!all && strcmp (only, "train"))
    goto done;
  /* training on 2 threads */
  gs_nn_set_threads (nn, 2);
  gs_nn_set_mode (nn, GS_NN_TRAIN);
  gs_nn_optim_opts_init (&oo, GS_NN_ADAM);
  if ((rc = gs_nn_optim_create (nn, &oo, &opt)) != GS_OK)
    return fail (rc);
  nb = (size_t)train_batch;
  {
    int n = 0, warm = 2;
    t0 = 0;
    for (;;)
      {
        if (warm == 0 && t0 == 0)
          t0 = now_s ();
        if ((rc = gs_nn_forward (nn, x, (int)nb, y)) != GS_OK)
          return fail (rc);
        gs_nn_loss_bce_logits (y, tg, nb * n_out, d);
        gs_nn_zero_grad (nn);
        if ((rc = gs_nn_backward (nn, d, NULL)) != GS_OK
            || (rc = gs_nn_optim_step (opt)) != GS_OK)
          return fail (rc);
        if (warm > 0)
          {
            warm--;
            continue;
          }
        n += (int)nb;
        if ((t = now_s () - t0) >= secs)
          break;
      }
    printf ("TRAIN_SPS %.1f\n", n / t);
    printf ("TRAIN_GFLOPS %.2f\n", 6 * macs * (n / t) * 1e-9);
  }
  gs_nn_optim_free (opt);
  if (!all)
    goto done;
  /* sgemm peak, 1 thread */
  {
    const int m = 1024;
    float *A = malloc ((size_t)m * m * sizeof (float)),
          *B = malloc ((size_t)m * m * sizeof (float)),
          *C = malloc ((size_t)m * m * sizeof (float));
    int n = 0;
    if (!A || !B || !C)
      return 1;
    for (i = 0; i < m * m; i++)
      A[i] = B[i] = (float)(i % 13) * 0.01f;
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, A, m,
                 B, m, 0, C, m);
    t0 = now_s ();
    do
      {
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, A,
                     m, B, m, 0, C, m);
        n++;
      }
    while ((t = now_s () - t0) < secs / 3);
    printf ("SGEMM_GFLOPS %.2f\n", 2.0 * m * m * (double)m * n / t * 1e-9);
    free (A);
    free (B);
    free (C);
  }
done:
  free (work);
  free (x);
  free (y);
  free (d);
  free (tg);
  gs_nn_free (nn);
  return 0;
}
