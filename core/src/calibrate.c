#include "gspec/calibrate.h"

#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdlib.h>

#include "gspec/status.h"

void
gs_linspace (double a, double b, size_t m, double *out)
{
  size_t i;
  double step;
  if (m == 0)
    return;
  if (m == 1)
    {
      out[0] = a;
      return;
    }
  step = (b - a) / (double)(m - 1);
  for (i = 0; i < m; i++)
    out[i] = (double)i * step + a;
  out[m - 1] = b;
}

size_t
gs_calibrate_count_fp (size_t n, size_t K, const double *scores,
                       const double *truth, int include_background,
                       const double *thresholds)
{
  size_t i, j, fp = 0, j0 = include_background ? 0 : 1;
  for (i = 0; i < n; i++)
    for (j = j0; j < K; j++)
      if (!(truth[i * K + j] > 0) && scores[i * K + j] > thresholds[j])
        {
          fp++;
          break;
        }
  return fp;
}

/* The largest count a in [0, n] with a / n <= target, robust to the
 * rounding of target * n. */
static size_t
allowed_count (double target, size_t n)
{
  double f = floor (target * (double)n);
  size_t a = f < 0 ? 0 : f > (double)n ? n : (size_t)f;
  while (a < n && (double)(a + 1) / (double)n <= target)
    a++;
  while (a > 0 && (double)a / (double)n > target)
    a--;
  return a;
}

/* Index of the first grid point minimising (count(t) / n - target)^2,
 * where count(t) = #{v_i > t} over the m values v. */
static size_t
grid_pick (const double *v, size_t m, size_t n, const double *grid,
           size_t G, double target)
{
  size_t g, i, best = 0;
  double best_d = INFINITY;
  for (g = 0; g < G; g++)
    {
      size_t c = 0;
      double d;
      for (i = 0; i < m; i++)
        c += v[i] > grid[g];
      d = (double)c / (double)n - target;
      d *= d;
      if (d < best_d)
        {
          best_d = d;
          best = g;
        }
    }
  return best;
}

/* The smallest t with #{v_i > t} <= a: the (a+1)-th largest of the m
 * values (strict > makes ties safe); -INFINITY when a >= m. */
static double
quantile_pick (double *v, size_t m, size_t a)
{
  if (a >= m)
    return -INFINITY;
  gsl_sort (v, 1, m);
  return v[m - 1 - a];
}

int
gs_calibrate_thresholds (size_t n, size_t K, const double *scores,
                         const double *truth, const gs_calibrate_opts *opts,
                         double *thresholds, gs_calibration *out)
{
  size_t i, j, m, j0, k_eval;
  double *v;
  if (!opts || n == 0)
    return gs_error (GS_EINVAL, "calibration needs options and spectra");
  j0 = opts->include_background ? 0 : 1;
  if (K <= j0)
    return gs_error (GS_EINVAL, "calibration needs evaluated components "
                                "(K = %zu)",
                     K);
  if (!(opts->target_fpr >= 0 && opts->target_fpr <= 1))
    return gs_error (GS_EINVAL, "calibration target FPR %g is not in [0, 1]",
                     opts->target_fpr);
  if (opts->mode != GS_CALIBRATE_GRID && opts->mode != GS_CALIBRATE_QUANTILE)
    return gs_error (GS_EINVAL, "unknown calibration mode %d",
                     (int)opts->mode);
  if (opts->mode == GS_CALIBRATE_GRID && (!opts->grid || opts->n_grid == 0))
    return gs_error (GS_EINVAL, "grid calibration needs a grid");
  for (i = 0; i < n; i++)
    for (j = j0; j < K; j++)
      if (!isfinite (scores[i * K + j]) || isnan (truth[i * K + j]))
        return gs_error (GS_EBADDATA,
                         "calibration: spectrum %zu, component %zu: score "
                         "or truth is not finite",
                         i, j);
  v = malloc (n * sizeof *v);
  if (!v)
    return gs_error (GS_ENOMEM, "calibration: out of memory");
  for (j = 0; j < j0; j++)
    thresholds[j] = INFINITY;
  k_eval = K - j0;
  out->grid_index = 0;
  if (!opts->per_component)
    {
      double t;
      /* Spectrum i is a false positive at t iff max over its absent
       * components of the score exceeds t. */
      for (i = 0; i < n; i++)
        {
          double mx = -INFINITY;
          for (j = j0; j < K; j++)
            if (!(truth[i * K + j] > 0) && scores[i * K + j] > mx)
              mx = scores[i * K + j];
          v[i] = mx;
        }
      if (opts->mode == GS_CALIBRATE_GRID)
        {
          out->grid_index = grid_pick (v, n, n, opts->grid, opts->n_grid,
                                       opts->target_fpr);
          t = opts->grid[out->grid_index];
        }
      else
        t = quantile_pick (v, n, allowed_count (opts->target_fpr, n));
      for (j = j0; j < K; j++)
        thresholds[j] = t;
    }
  else
    {
      double share = 1 - pow (1 - opts->target_fpr, 1.0 / (double)k_eval);
      for (j = j0; j < K; j++)
        {
          m = 0;
          for (i = 0; i < n; i++)
            if (!(truth[i * K + j] > 0))
              v[m++] = scores[i * K + j];
          if (opts->mode == GS_CALIBRATE_GRID)
            thresholds[j] = opts->grid[grid_pick (v, m, n, opts->grid,
                                                  opts->n_grid, share)];
          else
            thresholds[j] = quantile_pick (v, m, allowed_count (share, n));
        }
    }
  free (v);
  out->n = n;
  out->n_fp = gs_calibrate_count_fp (n, K, scores, truth,
                                     opts->include_background, thresholds);
  out->fpr = (double)out->n_fp / (double)n;
  return GS_OK;
}
