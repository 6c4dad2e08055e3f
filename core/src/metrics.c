#include "gspec/metrics.h"

#include <gsl/gsl_cdf.h>
#include <math.h>

#include "gspec/status.h"

gs_rate
gs_rate_wilson (size_t k, size_t n, double conf)
{
  gs_rate r;
  double z, p, den, centre, half;
  r.k = k;
  r.n = n;
  if (n == 0)
    {
      r.value = r.lo = r.hi = NAN;
      return r;
    }
  z = gsl_cdf_ugaussian_Pinv (0.5 + conf / 2);
  p = (double)k / (double)n;
  den = 1 + z * z / (double)n;
  centre = (p + z * z / (2.0 * (double)n)) / den;
  half = z * sqrt (p * (1 - p) / (double)n
                   + z * z / (4.0 * (double)n * (double)n))
         / den;
  r.value = p;
  r.lo = centre - half < 0 ? 0 : centre - half;
  r.hi = centre + half > 1 ? 1 : centre + half;
  return r;
}

int
gs_metrics_identification (size_t n, size_t K, const double *truth,
                           const int *present, int include_background,
                           gs_ident_metrics *out)
{
  size_t i, j, j0 = include_background ? 0 : 1;
  size_t correct_labels = 0, n_labels = 0, wrong = 0, fp = 0, fn = 0;
  if (n == 0 || K <= j0)
    return gs_error (GS_EINVAL,
                     "identification metrics need spectra and components");
  for (i = 0; i < n; i++)
    {
      int has_fp = 0, has_fn = 0;
      for (j = j0; j < K; j++)
        {
          int t = truth[i * K + j] > 0;
          int p = present[i * K + j] == 1;
          if (t == p)
            correct_labels++;
          else if (p)
            has_fp = 1;
          else
            has_fn = 1;
          n_labels++;
        }
      wrong += (has_fp || has_fn);
      fp += has_fp;
      fn += has_fn;
    }
  out->accuracy = gs_rate_wilson (correct_labels, n_labels, 0.95);
  out->ppr = gs_rate_wilson (n - wrong, n, 0.95);
  out->fprr = gs_rate_wilson (wrong, n, 0.95);
  out->fpr = gs_rate_wilson (fp, n, 0.95);
  out->fnr = gs_rate_wilson (fn, n, 0.95);
  return GS_OK;
}

int
gs_metrics_quantification (size_t n, size_t K, const double *truth,
                           const double *counts, gs_quant_metrics *out)
{
  size_t i, j, pairs = 0;
  double se = 0, rae = 0;
  if (n == 0 || K == 0)
    return gs_error (GS_EINVAL,
                     "quantification metrics need spectra and components");
  for (i = 0; i < n; i++)
    {
      const double *a = truth + i * K, *c = counts + i * K;
      double sa = 0, sc = 0;
      for (j = 0; j < K; j++)
        {
          if (!isfinite (c[j]))
            return gs_error (GS_EBADDATA,
                             "spectrum %zu: estimated count of component "
                             "%zu is not finite",
                             i, j);
          sa += a[j];
          sc += c[j];
        }
      for (j = 0; j < K; j++)
        {
          double w = sa > 0 ? a[j] / sa : 0;
          double wh = sc > 0 ? c[j] / sc : 0;
          se += (wh - w) * (wh - w);
          if (a[j] > 0)
            {
              rae += fabs (c[j] - a[j]) / a[j];
              pairs++;
            }
        }
    }
  out->mse_weights = se / ((double)n * (double)K);
  out->rae = pairs ? rae / (double)pairs : NAN;
  out->rae_pairs = pairs;
  return GS_OK;
}
