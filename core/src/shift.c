#include "gspec/shift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"

#define GS__SH_N GS_SHIFT_N_CHANNELS
#define GS__SH_FIRST_BIN 20   /* first kept 1 keV bin */
#define GS__SH_LAST_EDGE 2068 /* histogram edges 0..2068 */
#define GS__SH_MAX_PARTICLES 1e12

double
gs_shift_numpy_sum (const double *a, size_t n, size_t stride)
{
  size_t i;
  if (n < 8)
    {
      double res = 0.;
      for (i = 0; i < n; i++)
        res += a[i * stride];
      return res;
    }
  else if (n <= 128)
    {
      double r[8], res;
      size_t k;
      for (k = 0; k < 8; k++)
        r[k] = a[k * stride];
      for (i = 8; i < n - (n % 8); i += 8)
        for (k = 0; k < 8; k++)
          r[k] += a[(i + k) * stride];
      res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++)
        res += a[i * stride];
      return res;
    }
  else
    {
      size_t n2 = n / 2;
      n2 -= n2 % 8;
      return gs_shift_numpy_sum (a, n2, stride)
             + gs_shift_numpy_sum (a + n2 * stride, n - n2, stride);
    }
}

int
gs_shift_particles (const double *s, gs_shift_rule rule, double n_particles,
                    int64_t *n)
{
  double total, np = n_particles;
  size_t j;
  if (!s || !n)
    return gs_error (GS_EINVAL, "shift: NULL spectrum or output");
  if (rule != GS_SHIFT_ROUND && rule != GS_SHIFT_FLOOR)
    return gs_error (GS_EINVAL, "shift: unknown particle rule %d", (int)rule);
  if (np != np || np > GS__SH_MAX_PARTICLES)
    return gs_error (GS_EINVAL,
                     "shift: n_particles = %g is invalid (use 0 for the "
                     "default 1e6, at most 1e12)",
                     np);
  if (np <= 0)
    np = GS_SHIFT_DEFAULT_PARTICLES;
  for (j = 0; j < GS__SH_N; j++)
    if (!isfinite (s[j]) || s[j] < 0)
      return gs_error (GS_EBADDATA,
                       "shift: channel %zu of the spectrum is %g (need "
                       "finite, >= 0)",
                       j, s[j]);
  total = gs_shift_numpy_sum (s, GS__SH_N, 1);
  if (!(total > 0) || !isfinite (total))
    return gs_error (GS_EBADDATA,
                     "shift: the spectrum sums to %g; it needs a positive "
                     "finite total",
                     total);
  for (j = 0; j < GS__SH_N; j++)
    {
      double v = s[j] / total * np;
      /* 0 <= v <= 1e12 < 2^52: adding and removing 2^52 rounds to an
         integer, half to even as numpy.round (default rounding mode; the
         file is built without fast-math); the cast truncates = floor */
      if (rule == GS_SHIFT_ROUND)
        {
          double t = v + 0x1p52;
          v = t - 0x1p52;
        }
      else
        v = (double)(int64_t)v;
      n[j] = (int64_t)v;
    }
  return GS_OK;
}

/* One source channel's particles: numpy.linspace(start, start + 2, n)
 * mapped by E g + a1, each operation rounded on its own as numpy does:
 * one statement per operation, and the file is compiled with
 * -ffp-contract=off (core/CMakeLists.txt) so that no fused multiply-add
 * changes the rounding. */
typedef struct gs__sh_chan
{
  double start, step, g, a1;
  double inv_g, inv_step; /* for the estimate only */
  double tol;             /* bound on the estimate's error, in points */
  double ymin, ymax;      /* the end points' images */
  int64_t n;
} gs__sh_chan;

static double
gs__sh_point (const gs__sh_chan *c, int64_t k)
{
  double x, y;
  if (c->n > 1 && k == c->n - 1)
    x = c->start + 2.0; /* numpy sets the last point to stop */
  else
    {
      x = (double)k * c->step;
      x = x + c->start;
    }
  y = x * c->g;
  y = y + c->a1;
  return y;
}

static int
gs__sh_pred (const gs__sh_chan *c, int64_t k, double b, int strict)
{
  double y = gs__sh_point (c, k);
  return strict ? y < b : y <= b;
}

/* Number of points with y < b (strict) or y <= b.  The points are
   monotone in k (every rounding step is monotone): non-decreasing for
   g > 0, non-increasing for g < 0, so their extremes are the end points:
   an edge outside (ymin, ymax) is settled without evaluating a point.
   Otherwise the real-valued crossing ((b - a1) / g - start) / step gives
   the answer up to a few ulps of rounding; the exact predicate, evaluated
   as numpy does, settles it by walking from there (one or two
   evaluations in practice).  Bisection serves g = 0 and estimates that
   are far off. */
static int64_t
gs__sh_count_below (const gs__sh_chan *c, double b, int strict)
{
  int64_t lo = 0, hi = c->n;
  int up = c->g >= 0;
  if (strict ? b <= c->ymin : b < c->ymin)
    return 0;
  if (strict ? b > c->ymax : b >= c->ymax)
    return c->n;
  if (c->g != 0 && c->n > 1)
    {
      double kr = ((b - c->a1) * c->inv_g - c->start) * c->inv_step;
      if (kr == kr && kr > c->tol && kr < (double)c->n - c->tol)
        {
          /* No point lies within the rounding error of b: ceil(kr) points
             come before the crossing, whatever the comparison. */
          int64_t k = (int64_t)kr;
          double f = kr - (double)k;
          if (f > c->tol && f < 1 - c->tol)
            return up ? k + 1 : c->n - k - 1;
        }
      if (kr == kr)
        {
          int64_t k;
          int steps = 0;
          if (kr <= 0)
            k = 0;
          else if (kr >= (double)c->n)
            k = c->n;
          else
            {
              k = (int64_t)kr; /* ceil of a positive value */
              k += (double)k < kr;
            }
          /* first k where the predicate changes (fails for g > 0, holds
             for g < 0): p(k - 1) == up and p(k) != up; a walk longer than
             a few steps means the estimate was poor: bisect instead */
          while (k > 0 && steps < 8 && gs__sh_pred (c, k - 1, b, strict) != up)
            k--, steps++;
          while (k < c->n && steps < 8 && gs__sh_pred (c, k, b, strict) == up)
            k++, steps++;
          if (steps < 8)
            return up ? k : c->n - k;
        }
    }
  while (lo < hi)
    {
      int64_t mid = lo + (hi - lo) / 2;
      if (gs__sh_pred (c, mid, b, strict) == up)
        lo = mid + 1;
      else
        hi = mid;
    }
  return up ? lo : c->n - lo;
}

int
gs_shift_prepare (const int64_t *n, gs_shift_prep *p)
{
  size_t j, m = 0;
  if (!n || !p)
    return gs_error (GS_EINVAL, "shift: NULL particles or output");
  for (j = 0; j < GS__SH_N; j++)
    {
      if (n[j] < 0)
        return gs_error (GS_EBADDATA, "shift: channel %zu has %lld particles",
                         j, (long long)n[j]);
      if (n[j] == 0)
        continue;
      p->start[m] = 2.0 * (double)j + 20.0;
      p->step[m] = n[j] > 1 ? 2.0 / (double)(n[j] - 1) : 0.0;
      p->n[m] = n[j];
      m++;
    }
  p->m = m;
  return GS_OK;
}

/* floor of a non-negative finite value below 2^62 (no libm call) */
static long
gs__sh_floor_pos (double v)
{
  return (long)v;
}

/* Output channel c is the pair of 1 keV bins [20 + 2c, 22 + 2c) (the last,
 * c = 1023, is [2066, 2068], closed as numpy's last bin): only the even
 * edges matter. */
int
gs_shift_histogram_prepared (const gs_shift_prep *p, double alpha0,
                             double alpha1, int64_t *h)
{
  const double g = 1.0 - alpha0;
  double tol_per_point;
  size_t i;
  gs__sh_chan c;
  if (!p || !h)
    return gs_error (GS_EINVAL, "shift: NULL particles or output");
  if (!isfinite (alpha0) || !isfinite (alpha1) || !isfinite (g))
    return gs_error (GS_EINVAL, "shift: alpha = (%g, %g) must be finite",
                     alpha0, alpha1);
  memset (h, 0, GS__SH_N * sizeof *h);
  c.g = g;
  c.a1 = alpha1;
  c.inv_g = g != 0 ? 1.0 / g : 0.0;
  /* Each point y_k carries at most ~4 roundings of quantities below
     2068 |g| + |a1| (2^-53 each); the estimate of the crossing carries
     ~5 more of (2068 + |a1|) / |g| in energy.  In units of points (the
     spacing is 2 |g| / (n - 1)) the sum stays below
     n 2^-53 8 (2068 + |a1|) / |g|^2; tol takes 1000 times that, plus
     1e-6.
     Where the crossing is farther than tol from an integer the count is
     ceil(kr) without evaluating a point; else the exact predicate
     decides. */
  tol_per_point = g != 0 ? 1000 * 8 * 0x1p-53 * (2068 + fabs (alpha1))
                               / (g * g)
                         : HUGE_VAL;
  for (i = 0; i < p->m; i++)
    {
      double y0, y1;
      long clo, chi, t;
      int64_t below, top;
      c.start = p->start[i];
      c.step = p->step[i];
      c.n = p->n[i];
      c.inv_step = 0.5 * (double)(c.n - 1);
      c.tol = tol_per_point * (double)c.n + 1e-6;
      y0 = gs__sh_point (&c, 0);
      y1 = gs__sh_point (&c, c.n - 1);
      c.ymin = y0 < y1 ? y0 : y1;
      c.ymax = y0 < y1 ? y1 : y0;
      if (c.ymax < GS__SH_FIRST_BIN || c.ymin > GS__SH_LAST_EDGE)
        continue;
      /* output channels of the extreme points (y - 20 is exact for y in
         20..2068, so is the floor), points below 20 keV and above 2068
         keV dropped; the edges in between are crossed in order */
      if (c.ymin < GS__SH_FIRST_BIN)
        {
          clo = 0;
          below = gs__sh_count_below (&c, GS__SH_FIRST_BIN, 1);
        }
      else
        {
          clo = gs__sh_floor_pos ((c.ymin - GS__SH_FIRST_BIN) / 2);
          below = 0;
        }
      if (c.ymax > GS__SH_LAST_EDGE)
        {
          chi = GS__SH_N - 1;
          top = gs__sh_count_below (&c, GS__SH_LAST_EDGE, 0);
        }
      else
        {
          chi = gs__sh_floor_pos ((c.ymax - GS__SH_FIRST_BIN) / 2);
          top = c.n;
        }
      if (clo > GS__SH_N - 1)
        clo = GS__SH_N - 1; /* a point exactly at 2068 keV */
      if (chi > GS__SH_N - 1)
        chi = GS__SH_N - 1;
      for (t = clo; t < chi; t++)
        {
          int64_t next = gs__sh_count_below (
              &c, GS__SH_FIRST_BIN + 2.0 * (double)t + 2.0, 1);
          h[t] += next - below;
          below = next;
        }
      h[chi] += top - below;
    }
  return GS_OK;
}

int
gs_shift_histogram (const int64_t *n, double alpha0, double alpha1, int64_t *h)
{
  gs_shift_prep *p;
  int rc;
  if (!n || !h)
    return gs_error (GS_EINVAL, "shift: NULL particles or output");
  p = malloc (sizeof *p);
  if (!p)
    return gs_error (GS_ENOMEM, "shift: out of memory");
  rc = gs_shift_prepare (n, p);
  if (rc == GS_OK)
    rc = gs_shift_histogram_prepared (p, alpha0, alpha1, h);
  free (p);
  return rc;
}

/* Scratch of the whole operator: particles, histogram, prepared set. */
typedef struct gs__sh_scratch
{
  int64_t n[GS__SH_N], h[GS__SH_N];
  gs_shift_prep prep;
} gs__sh_scratch;

static int
gs__sh_spectrum (gs__sh_scratch *w, const double *s, double alpha0,
                 double alpha1, gs_shift_rule rule, double n_particles,
                 double *out)
{
  double total, htot = 0;
  size_t c;
  int rc = gs_shift_particles (s, rule, n_particles, w->n);
  if (rc == GS_OK)
    rc = gs_shift_prepare (w->n, &w->prep);
  if (rc == GS_OK)
    rc = gs_shift_histogram_prepared (&w->prep, alpha0, alpha1, w->h);
  if (rc != GS_OK)
    return rc;
  total = gs_shift_numpy_sum (s, GS__SH_N, 1);
  for (c = 0; c < GS__SH_N; c++)
    htot += (double)w->h[c]; /* integers below 2^53: exact in any order */
  if (!(htot > 0))
    return gs_error (GS_ERANGE,
                     "shift: alpha = (%g, %g) moves every particle out of "
                     "20..2068 keV",
                     alpha0, alpha1);
  for (c = 0; c < GS__SH_N; c++)
    out[c] = (double)w->h[c] / htot * total;
  return GS_OK;
}

int
gs_shift_spectrum (const double *s, double alpha0, double alpha1,
                   gs_shift_rule rule, double n_particles, double *out)
{
  gs__sh_scratch *w;
  int rc;
  if (!s || !out)
    return gs_error (GS_EINVAL, "shift: NULL spectrum or output");
  w = malloc (sizeof *w);
  if (!w)
    return gs_error (GS_ENOMEM, "out of memory");
  rc = gs__sh_spectrum (w, s, alpha0, alpha1, rule, n_particles, out);
  free (w);
  return rc;
}

int
gs_shift_library_columns (const double *X, size_t n_components, double alpha0,
                          double alpha1, gs_shift_rule rule, double n_particles,
                          double *out)
{
  const size_t K = n_components;
  double *col, *sum;
  gs__sh_scratch *w;
  size_t c, k;
  int rc = GS_OK;
  if (!X || !out || K == 0)
    return gs_error (GS_EINVAL, "shift: need a matrix with >= 1 column");
  col = malloc (GS__SH_N * sizeof *col);
  sum = calloc (K, sizeof *sum);
  w = malloc (sizeof *w);
  if (!col || !sum || !w)
    {
      free (col);
      free (sum);
      free (w);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  for (k = 0; k < K && rc == GS_OK; k++)
    {
      for (c = 0; c < GS__SH_N; c++)
        col[c] = X[c * K + k];
      rc = gs__sh_spectrum (w, col, alpha0, alpha1, rule, n_particles, col);
      if (rc != GS_OK)
        {
          gs_error_prefix (rc, "column %zu", k);
          break;
        }
      if (k == 0)
        {
          double mn = HUGE_VAL;
          for (c = 0; c < GS__SH_N; c++)
            if (col[c] > 0 && col[c] < mn)
              mn = col[c];
          for (c = 0; c < GS__SH_N; c++)
            if (col[c] == 0)
              col[c] = mn / 100;
        }
      for (c = 0; c < GS__SH_N; c++)
        out[c * K + k] = col[c];
    }
  if (rc == GS_OK)
    {
      /* numpy's axis-0 sum of a C-ordered matrix: rows added in order. */
      for (c = 0; c < GS__SH_N; c++)
        for (k = 0; k < K; k++)
          sum[k] += out[c * K + k];
      for (c = 0; c < GS__SH_N; c++)
        for (k = 0; k < K; k++)
          out[c * K + k] /= sum[k];
    }
  free (col);
  free (sum);
  free (w);
  return rc;
}
