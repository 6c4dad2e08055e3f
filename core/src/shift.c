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
      v = rule == GS_SHIFT_ROUND ? nearbyint (v) : floor (v);
      n[j] = (int64_t)v;
    }
  return GS_OK;
}

/* One source channel's particles: numpy.linspace(start, start + 2, n)
 * mapped by E g + a1.  Every intermediate goes through a volatile so that
 * no fused multiply-add changes the rounding numpy performs. */
typedef struct gs__sh_chan
{
  double start, step, g, a1;
  int64_t n;
} gs__sh_chan;

static double
gs__sh_point (const gs__sh_chan *c, int64_t k)
{
  volatile double x, y;
  if (c->n > 1 && k == c->n - 1)
    x = c->start + 2.0; /* numpy sets the last point to stop */
  else
    {
      x = (double)k * c->step;
      x = x + c->start;
    }
  y = x * c->g;
  return y + c->a1;
}

/* Number of points with y < b (strict) or y <= b.  The points are
   monotone in k: non-decreasing for g >= 0, non-increasing for g < 0. */
static int64_t
gs__sh_count_below (const gs__sh_chan *c, double b, int strict)
{
  int64_t lo = 0, hi = c->n;
  if (c->g >= 0)
    {
      /* first k where the predicate fails */
      while (lo < hi)
        {
          int64_t mid = lo + (hi - lo) / 2;
          double y = gs__sh_point (c, mid);
          int p = strict ? y < b : y <= b;
          if (p)
            lo = mid + 1;
          else
            hi = mid;
        }
      return lo;
    }
  /* first k where the predicate holds */
  while (lo < hi)
    {
      int64_t mid = lo + (hi - lo) / 2;
      double y = gs__sh_point (c, mid);
      int p = strict ? y < b : y <= b;
      if (p)
        hi = mid;
      else
        lo = mid + 1;
    }
  return c->n - lo;
}

int
gs_shift_histogram (const int64_t *n, double alpha0, double alpha1, int64_t *h)
{
  const double g = 1.0 - alpha0;
  size_t j;
  if (!n || !h)
    return gs_error (GS_EINVAL, "shift: NULL particles or output");
  if (!isfinite (alpha0) || !isfinite (alpha1) || !isfinite (g))
    return gs_error (GS_EINVAL, "shift: alpha = (%g, %g) must be finite",
                     alpha0, alpha1);
  memset (h, 0, GS__SH_N * sizeof *h);
  for (j = 0; j < GS__SH_N; j++)
    {
      gs__sh_chan c;
      double y0, y1, ymin, ymax;
      long lo, hi, t;
      int64_t below;
      if (n[j] < 0)
        return gs_error (GS_EBADDATA, "shift: channel %zu has %lld particles",
                         j, (long long)n[j]);
      if (n[j] == 0)
        continue;
      c.start = 2.0 * (double)j + 20.0;
      c.step = n[j] > 1 ? 2.0 / (double)(n[j] - 1) : 0.0;
      c.g = g;
      c.a1 = alpha1;
      c.n = n[j];
      y0 = gs__sh_point (&c, 0);
      y1 = gs__sh_point (&c, c.n - 1);
      ymin = y0 < y1 ? y0 : y1;
      ymax = y0 < y1 ? y1 : y0;
      if (ymax < GS__SH_FIRST_BIN || ymin > GS__SH_LAST_EDGE)
        continue;
      lo = ymin < GS__SH_FIRST_BIN ? GS__SH_FIRST_BIN : (long)floor (ymin);
      if (lo > GS__SH_LAST_EDGE - 1)
        lo = GS__SH_LAST_EDGE - 1; /* a point exactly at 2068 keV */
      hi = ymax >= GS__SH_LAST_EDGE - 1 ? GS__SH_LAST_EDGE - 1
                                        : (long)floor (ymax);
      below = gs__sh_count_below (&c, (double)lo, 1);
      for (t = lo; t <= hi; t++)
        {
          int64_t next;
          if (t < GS__SH_LAST_EDGE - 1)
            next = gs__sh_count_below (&c, (double)(t + 1), 1);
          else /* the last bin [2067, 2068] is closed */
            next = gs__sh_count_below (&c, (double)GS__SH_LAST_EDGE, 0);
          h[(t - GS__SH_FIRST_BIN) / 2] += next - below;
          below = next;
        }
    }
  return GS_OK;
}

int
gs_shift_spectrum (const double *s, double alpha0, double alpha1,
                   gs_shift_rule rule, double n_particles, double *out)
{
  int64_t *n, *h;
  double total, htot = 0;
  size_t c;
  int rc;
  if (!s || !out)
    return gs_error (GS_EINVAL, "shift: NULL spectrum or output");
  n = malloc (2 * GS__SH_N * sizeof *n);
  if (!n)
    return gs_error (GS_ENOMEM, "out of memory");
  h = n + GS__SH_N;
  rc = gs_shift_particles (s, rule, n_particles, n);
  if (rc == GS_OK)
    rc = gs_shift_histogram (n, alpha0, alpha1, h);
  if (rc != GS_OK)
    {
      free (n);
      return rc;
    }
  total = gs_shift_numpy_sum (s, GS__SH_N, 1);
  for (c = 0; c < GS__SH_N; c++)
    htot += (double)h[c]; /* integers below 2^53: exact in any order */
  if (!(htot > 0))
    {
      free (n);
      return gs_error (GS_ERANGE,
                       "shift: alpha = (%g, %g) moves every particle out of "
                       "20..2068 keV",
                       alpha0, alpha1);
    }
  for (c = 0; c < GS__SH_N; c++)
    out[c] = (double)h[c] / htot * total;
  free (n);
  return GS_OK;
}

int
gs_shift_library_columns (const double *X, size_t n_components, double alpha0,
                          double alpha1, gs_shift_rule rule, double n_particles,
                          double *out)
{
  const size_t K = n_components;
  double *col, *sum;
  size_t c, k;
  int rc = GS_OK;
  if (!X || !out || K == 0)
    return gs_error (GS_EINVAL, "shift: need a matrix with >= 1 column");
  col = malloc (GS__SH_N * sizeof *col);
  sum = calloc (K, sizeof *sum);
  if (!col || !sum)
    {
      free (col);
      free (sum);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  for (k = 0; k < K && rc == GS_OK; k++)
    {
      for (c = 0; c < GS__SH_N; c++)
        col[c] = X[c * K + k];
      rc = gs_shift_spectrum (col, alpha0, alpha1, rule, n_particles, col);
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
  return rc;
}
