/* The particle gain-shift operator (gammabench-spec.md 1.6, 3.6): exact
 * against a brute-force transcription and against numpy goldens. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/library.h"
#include "gspec/shift.h"
#include "gspec/status.h"
#include "test_util.h"

#define N GS_SHIFT_N_CHANNELS

/* The synthetic spectrum the numpy goldens were made from. */
static void
synthetic (double *s)
{
  size_t j;
  for (j = 0; j < N; j++)
    s[j] = (j % 17 == 5)
               ? 0.0
               : (double)((j * 7919) % 1009 + 1) * (1 + 0.25 * (double)(j % 3));
}

/* Brute force, as numpy does it: materialise linspace(E_j, E_j + 2, n_j)
 * (k * step + start, last point = stop), map E (1 - a0) + a1, histogram
 * with edges 0..2068 (floor; 2068 itself in the last bin), cut 20..2067 and
 * pair-sum. */
static void
brute (const int64_t *n, double a0, double a1, int64_t *h)
{
  const double g = 1.0 - a0;
  size_t j;
  memset (h, 0, N * sizeof *h);
  for (j = 0; j < N; j++)
    {
      double start = 2.0 * (double)j + 20, stop = start + 2;
      double step = n[j] > 1 ? 2.0 / (double)(n[j] - 1) : 0;
      int64_t k;
      for (k = 0; k < n[j]; k++)
        {
          volatile double x, y;
          long b;
          if (n[j] > 1 && k == n[j] - 1)
            x = stop;
          else
            {
              x = (double)k * step;
              x = x + start;
            }
          y = x * g;
          y = y + a1;
          if (!(y >= 0 && y <= 2068))
            continue;
          b = y == 2068 ? 2067 : (long)floor (y);
          if (b >= 20)
            h[(b - 20) / 2]++;
        }
    }
}

static uint64_t
fnv (const int64_t *v)
{
  uint64_t x = 0xcbf29ce484222325ULL;
  size_t i, b;
  for (i = 0; i < N; i++)
    for (b = 0; b < 8; b++)
      {
        x ^= ((uint64_t)v[i] >> (8 * b)) & 0xff;
        x *= 0x100000001b3ULL;
      }
  return x;
}

static void
test_numpy_sum (void)
{
  /* numpy 1.24: j = arange(1024.); v = 1/(j+1) + (j%5==1)*1e3/(j%7+0.3);
   * np.sum(v), np.sum(v[0::3]), np.sum(v[:100]).  (A plain loop gives
   * 158125.46228093875 for the first.) */
  double v[N];
  size_t j;
  for (j = 0; j < N; j++)
    v[j] = 1.0 / ((double)j + 1)
           + (j % 5 == 1 ? 1e3 / ((double)(j % 7) + 0.3) : 0);
  CU_ASSERT_EQUAL (gs_shift_numpy_sum (v, N, 1), 158125.46228093866);
  CU_ASSERT_EQUAL (gs_shift_numpy_sum (v, (N + 2) / 3, 3), 53785.19697937178);
  CU_ASSERT_EQUAL (gs_shift_numpy_sum (v, 100, 1), 15963.190748001696);
}

/* Goldens from numpy 1.24.2 (Debian /usr/bin/python3), transcribing spec
 * 1.6 literally:
 *   n = s/np.sum(s)*N; n = (np.round(n) or np.floor(n)).astype(int)
 *   E = concatenate([linspace(2j+20, 2j+22, n[j]) for j]); E = E*(1-a0)+a1
 *   h = histogram(E, bins=arange(0, 2069))[0][20:2068]; h = h[0::2]+h[1::2]
 * with N = 1e6; columns: alpha0, alpha1, rule, sum(n), sum(h), FNV-1a of
 * n and of h (each value as 8 little-endian bytes). */
typedef struct golden
{
  double a0, a1;
  gs_shift_rule rule;
  long long n_sum, h_sum;
  uint64_t n_hash, h_hash;
} golden;

static const golden synth_goldens[] = {
  { 0.1, 0, GS_SHIFT_ROUND, 999999LL, 999801LL, 0x806c6e24124c6e4bULL,
    0xab5a84fefcff6844ULL },
  { -0.1, 0, GS_SHIFT_ROUND, 999999LL, 909313LL, 0x806c6e24124c6e4bULL,
    0xe8efda884924bcb1ULL },
  { 0.00317249, 0, GS_SHIFT_ROUND, 999999LL, 999998LL, 0x806c6e24124c6e4bULL,
    0x7f6ed76d8cba2e11ULL },
  { 0.05, 3.5, GS_SHIFT_ROUND, 999999LL, 999999LL, 0x806c6e24124c6e4bULL,
    0xb7c5c7774b390029ULL },
  { 0.0, 0, GS_SHIFT_ROUND, 999999LL, 999999LL, 0x806c6e24124c6e4bULL,
    0xf3470c628ea1ad55ULL },
  { -0.07, -1.25, GS_SHIFT_FLOOR, 999518LL, 935491LL, 0xcf7394fe97ec2a01ULL,
    0x3973fbddcdc0d27bULL },
  { 0.14, 0, GS_SHIFT_FLOOR, 999518LL, 998410LL, 0xcf7394fe97ec2a01ULL,
    0xc4762b6acfc6b872ULL },
  { -0.02, 40.0, GS_SHIFT_ROUND, 999999LL, 962410LL, 0x806c6e24124c6e4bULL,
    0x48e6739a2d3d6386ULL },
};

/* The same for the measured GammaBench background (spec 1.4 processing,
 * B[0] = B[1] = 0.1 min(B[2:])). */
static const golden bkg_goldens[] = {
  { 0.1, 0, GS_SHIFT_ROUND, 1000001LL, 999998LL, 0x3f08818758d29b04ULL,
    0xf3c84e96e54f069aULL },
  { -0.1, 0, GS_SHIFT_ROUND, 1000001LL, 997985LL, 0x3f08818758d29b04ULL,
    0xadd404b47559981eULL },
  { 0.00317249, 0, GS_SHIFT_ROUND, 1000001LL, 1000000LL, 0x3f08818758d29b04ULL,
    0xdc3161807b611b75ULL },
  { 0.05, 3.5, GS_SHIFT_FLOOR, 999489LL, 999489LL, 0x71824a182f34886fULL,
    0xf62be5d44080583eULL },
};

static void
check_goldens (const double *s, const golden *g, size_t ng)
{
  int64_t n[N], h[N], hb[N];
  size_t i, c;
  for (i = 0; i < ng; i++)
    {
      long long ns = 0, hs = 0;
      CU_ASSERT_EQUAL_FATAL (gs_shift_particles (s, g[i].rule, 0, n), 0);
      CU_ASSERT_EQUAL_FATAL (gs_shift_histogram (n, g[i].a0, g[i].a1, h), 0);
      brute (n, g[i].a0, g[i].a1, hb);
      for (c = 0; c < N; c++)
        {
          ns += n[c];
          hs += h[c];
        }
      CU_ASSERT_EQUAL (memcmp (h, hb, sizeof h), 0);
      CU_ASSERT_EQUAL (ns, g[i].n_sum);
      CU_ASSERT_EQUAL (hs, g[i].h_sum);
      CU_ASSERT_EQUAL (fnv (n), g[i].n_hash);
      CU_ASSERT_EQUAL (fnv (h), g[i].h_hash);
      if (fnv (h) != g[i].h_hash)
        fprintf (stderr, "\n  golden %zu (alpha %g, %g) differs\n", i, g[i].a0,
                 g[i].a1);
    }
}

static void
test_numpy_goldens (void)
{
  double s[N];
  synthetic (s);
  check_goldens (s, synth_goldens,
                 sizeof synth_goldens / sizeof synth_goldens[0]);
}

static void
test_background_goldens (void)
{
  const char *root = gs_test_data_dir ("shift: background goldens");
  char *dir;
  double b[N];
  if (!root)
    return;
  dir = malloc (strlen (root) + 32);
  CU_ASSERT_PTR_NOT_NULL_FATAL (dir);
  memcpy (dir, root, strlen (root));
  memcpy (dir + strlen (root), "/gammabench", sizeof "/gammabench");
  CU_ASSERT_EQUAL_FATAL (gs_gammabench_read_background (dir, b), 0);
  check_goldens (b, bkg_goldens, sizeof bkg_goldens / sizeof bkg_goldens[0]);
  free (dir);
}

/* Fast versus brute force over many alphas and spectra, including ties at
 * bin edges (alpha1 integer, g = 1), n_j = 1 and 2, and points leaving the
 * window at both ends. */
static void
test_brute_force (void)
{
  static const double alphas[][2] = {
    { 0.1, 0 },      { -0.1, 0 },         { 0.00317249, 0 }, { 0, 0 },
    { 0, 1 },        { 0, -20 },          { 0, 2 },          { 0.5, 0 },
    { -0.15, 0.75 }, { 0.07, -0.3 },      { 1e-9, 0 },       { -1e-9, 0 },
    { 0.01, 0.01 },  { 0.3333333333, 0 }, { 1.5, 2100 },     { 2, 2088 }
  };
  double s[N];
  int64_t n[N], h[N], hb[N];
  size_t a, j, trial;
  for (trial = 0; trial < 4; trial++)
    {
      for (j = 0; j < N; j++)
        {
          unsigned long v = (unsigned long)(j * 2654435761UL + trial * 97);
          s[j] = (double)(v % 1000);
          if (trial == 1)
            s[j] = (double)(j % 7); /* small n_j, many 1s and 2s */
          if (trial == 2 && j % 5)
            s[j] = 0;
        }
      for (a = 0; a < sizeof alphas / sizeof alphas[0]; a++)
        {
          double np = trial == 1 ? 3000 : (trial == 3 ? 2e5 : 0);
          CU_ASSERT_EQUAL_FATAL (
              gs_shift_particles (
                  s, trial % 2 ? GS_SHIFT_FLOOR : GS_SHIFT_ROUND, np, n),
              0);
          CU_ASSERT_EQUAL_FATAL (
              gs_shift_histogram (n, alphas[a][0], alphas[a][1], h), 0);
          brute (n, alphas[a][0], alphas[a][1], hb);
          CU_ASSERT_EQUAL (memcmp (h, hb, sizeof h), 0);
          if (memcmp (h, hb, sizeof h) != 0)
            fprintf (stderr, "\n  trial %zu alpha (%g, %g) differs\n", trial,
                     alphas[a][0], alphas[a][1]);
        }
      /* 30 scattered shifts in the optimiser's box (-0.15..0.15, -1..1)
         and beyond, where the closed-form crossing lands anywhere */
      for (a = 0; a < 30; a++)
        {
          double a0 = -0.2 + 0.4 * (double)((a * 7919 + trial * 31) % 1000)
                                 / 999.0,
                 a1 = -2.0 + 4.0 * (double)((a * 104729 + trial) % 997) / 996.0;
          CU_ASSERT_EQUAL_FATAL (gs_shift_histogram (n, a0, a1, h), 0);
          brute (n, a0, a1, hb);
          CU_ASSERT_EQUAL (memcmp (h, hb, sizeof h), 0);
          if (memcmp (h, hb, sizeof h) != 0)
            fprintf (stderr, "\n  trial %zu alpha (%.17g, %.17g) differs\n",
                     trial, a0, a1);
        }
    }
  /* 1e7 particles (~1e4 per channel: points 2e-4 keV apart, where the
     estimate alone decides most crossings) at 6 shifts */
  for (j = 0; j < N; j++)
    s[j] = (double)((j * 2654435761UL) % 1000);
  CU_ASSERT_EQUAL_FATAL (gs_shift_particles (s, GS_SHIFT_FLOOR, 1e7, n), 0);
  for (a = 0; a < 6; a++)
    {
      double a0 = -0.13 + 0.05 * (double)a + 1e-7 * (double)a,
             a1 = -0.9 + 0.33 * (double)a;
      CU_ASSERT_EQUAL_FATAL (gs_shift_histogram (n, a0, a1, h), 0);
      brute (n, a0, a1, hb);
      CU_ASSERT_EQUAL (memcmp (h, hb, sizeof h), 0);
    }
}

/* Alpha = 0: each channel keeps its particles except that the last point
 * (E_j + 2) lands in the next channel; the top channel keeps it (closed
 * last bin).  So h_c = n_c - [n_c >= 2] + [n_{c-1} >= 2] exactly, and the
 * spectrum is reproduced within 2e-6 sum(s) + 1e-3 s_c. */
static void
test_identity (void)
{
  double s[N], out[N], tot = 0;
  int64_t n[N], h[N];
  size_t c;
  synthetic (s);
  for (c = 0; c < N; c++)
    tot += s[c];
  CU_ASSERT_EQUAL_FATAL (gs_shift_particles (s, GS_SHIFT_ROUND, 0, n), 0);
  CU_ASSERT_EQUAL_FATAL (gs_shift_histogram (n, 0, 0, h), 0);
  for (c = 0; c < N; c++)
    {
      int64_t e = n[c];
      if (c < N - 1 && n[c] >= 2)
        e--;
      if (c > 0 && n[c - 1] >= 2)
        e++;
      CU_ASSERT_EQUAL (h[c], e);
    }
  CU_ASSERT_EQUAL_FATAL (gs_shift_spectrum (s, 0, 0, GS_SHIFT_ROUND, 0, out),
                         0);
  for (c = 0; c < N; c++)
    CU_ASSERT (fabs (out[c] - s[c]) <= 2e-6 * tot + 1e-3 * s[c]);
}

/* Count conservation: for shifts that keep everything inside the window
 * every particle is counted once; the output keeps sum(s). */
static void
test_conservation (void)
{
  double s[N], out[N], tot, otot = 0;
  int64_t n[N], h[N], ns = 0, hs = 0;
  size_t c;
  synthetic (s);
  for (c = 1000; c < N; c++)
    s[c] = 0; /* room to move up */
  tot = gs_shift_numpy_sum (s, N, 1);
  CU_ASSERT_EQUAL_FATAL (gs_shift_particles (s, GS_SHIFT_FLOOR, 0, n), 0);
  CU_ASSERT_EQUAL_FATAL (gs_shift_histogram (n, -0.02, 0, h), 0);
  for (c = 0; c < N; c++)
    {
      ns += n[c];
      hs += h[c];
    }
  CU_ASSERT_EQUAL (ns, hs);
  CU_ASSERT (ns <= 1000000 && ns > 1000000 - 1024);
  CU_ASSERT_EQUAL_FATAL (
      gs_shift_spectrum (s, -0.02, 0, GS_SHIFT_FLOOR, 0, out), 0);
  for (c = 0; c < N; c++)
    otot += out[c];
  CU_ASSERT (fabs (otot - tot) <= 1e-9 * tot);
}

static void
test_library_columns (void)
{
  enum
  {
    K = 3
  };
  static double X[N * K], Y[N * K];
  double col[N], sum[K] = { 0 };
  size_t c, k;
  for (c = 0; c < N; c++)
    {
      X[c * K + 0] = c < 900 ? 1.0 + (double)(c % 13) : 0; /* background */
      X[c * K + 1] = c >= 300 && c < 310 ? 1.0 : 0;
      X[c * K + 2] = 1.0 / (1.0 + (double)c);
    }
  CU_ASSERT_EQUAL_FATAL (
      gs_shift_library_columns (X, K, 0.1, 0, GS_SHIFT_ROUND, 0, Y), 0);
  for (c = 0; c < N; c++)
    for (k = 0; k < K; k++)
      sum[k] += Y[c * K + k];
  for (k = 0; k < K; k++)
    CU_ASSERT (fabs (sum[k] - 1) < 1e-12);
  /* Column 0 has no zeros: they became min(positive) / 100. */
  for (c = 0; c < N; c++)
    CU_ASSERT (Y[c * K] > 0);
  /* Column 1 agrees with the single-spectrum operator, renormalised. */
  for (c = 0; c < N; c++)
    col[c] = X[c * K + 1];
  CU_ASSERT_EQUAL_FATAL (
      gs_shift_spectrum (col, 0.1, 0, GS_SHIFT_ROUND, 0, col), 0);
  {
    double t = 0;
    for (c = 0; c < N; c++)
      t += col[c];
    for (c = 0; c < N; c++)
      CU_ASSERT (fabs (Y[c * K + 1] - col[c] / t) <= 1e-15);
  }
  /* Zeros elsewhere than column 0 stay zero (channels far from the peak). */
  CU_ASSERT_EQUAL (Y[100 * K + 1], 0.0);
  /* In place gives the same. */
  CU_ASSERT_EQUAL_FATAL (
      gs_shift_library_columns (X, K, 0.1, 0, GS_SHIFT_ROUND, 0, X), 0);
  CU_ASSERT_EQUAL (memcmp (X, Y, sizeof X), 0);
}

static void
test_bad_input (void)
{
  double s[N], out[N];
  int64_t n[N], h[N];
  synthetic (s);
  CU_ASSERT_EQUAL (gs_shift_spectrum (s, NAN, 0, GS_SHIFT_ROUND, 0, out),
                   GS_EINVAL);
  CU_ASSERT_EQUAL (gs_shift_spectrum (s, 0, 0, GS_SHIFT_ROUND, -NAN, out),
                   GS_EINVAL);
  CU_ASSERT_EQUAL (gs_shift_spectrum (s, 0, 0, (gs_shift_rule)7, 0, out),
                   GS_EINVAL);
  /* Everything pushed above 2068 keV. */
  CU_ASSERT_EQUAL (gs_shift_spectrum (s, 0, 5000, GS_SHIFT_ROUND, 0, out),
                   GS_ERANGE);
  s[17] = -1;
  CU_ASSERT_EQUAL (gs_shift_particles (s, GS_SHIFT_ROUND, 0, n), GS_EBADDATA);
  GS_ASSERT_CONTAINS (gs_last_error (), "channel 17");
  memset (s, 0, sizeof s);
  CU_ASSERT_EQUAL (gs_shift_particles (s, GS_SHIFT_ROUND, 0, n), GS_EBADDATA);
  memset (n, 0, sizeof n);
  n[3] = -2;
  CU_ASSERT_EQUAL (gs_shift_histogram (n, 0, 0, h), GS_EBADDATA);
}

void gs_test_register_shift (void);
void
gs_test_register_shift (void)
{
  CU_pSuite s = CU_add_suite ("shift", NULL, NULL);
  CU_add_test (s, "numpy pairwise sum", test_numpy_sum);
  CU_add_test (s, "numpy goldens (synthetic)", test_numpy_goldens);
  CU_add_test (s, "numpy goldens (background)", test_background_goldens);
  CU_add_test (s, "fast equals brute force", test_brute_force);
  CU_add_test (s, "alpha = 0", test_identity);
  CU_add_test (s, "count conservation", test_conservation);
  CU_add_test (s, "library columns", test_library_columns);
  CU_add_test (s, "bad input", test_bad_input);
}
