/* Report sections for labelled (measured) test sets: gamma_flow's
 * single-label accuracy, overall and per group (e.g. per detector), with
 * Wilson intervals and confusion matrices, and outlier detection against
 * the labels the library does not name (ROC AUC of every outlier score a
 * method gives, and the rates of its outlier flag). */
#include "report_labelled.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/metrics.h"
#include "gspec/plugin.h"
#include "gspec/status.h"
#include "report.h"

/* The first component named in `label` ("Cs137+background"), skipping
 * background: its index, 0 when only background is named, -1 when the
 * label names nothing the library has. */
static long
first_label (const char *label, size_t K, const char *const *names)
{
  const char *p = label;
  int saw_background = 0;
  while (p && *p)
    {
      const char *plus = strchr (p, '+');
      size_t len = plus ? (size_t)(plus - p) : strlen (p), k;
      for (k = 1; k < K; k++)
        if (strlen (names[k]) == len && strncmp (names[k], p, len) == 0)
          return (long)k;
      if (len == strlen (names[0]) && strncmp (names[0], p, len) == 0)
        saw_background = 1;
      p = plus ? plus + 1 : NULL;
    }
  return saw_background ? 0 : -1;
}

/* gamma_flow's single-label prediction from one result row. */
static long
predicted (const gs_lab_method *m, size_t i, size_t K)
{
  const int *pres = m->present + i * K;
  const double *sc = m->score + i * K, *ct = m->counts + i * K;
  long best = 0;
  double bv = -HUGE_VAL, tot = 0.0;
  size_t k;
  int decides = (m->kinds & GS_KIND_IDENTIFY) != 0, use_score = 1;
  if (decides)
    {
      for (k = 1; k < K; k++)
        if (pres[k] == 1 && !isfinite (sc[k]))
          use_score = 0;
      for (k = 1; k < K; k++)
        if (pres[k] == 1)
          {
            double v = use_score ? sc[k] : ct[k];
            if (!(v <= bv)) /* NaN counts lose only to nothing */
              {
                bv = isnan (v) ? -HUGE_VAL : v;
                best = (long)k;
              }
          }
      return best;
    }
  /* Quantification only: gamma_flow's rule on the shares of the counts
   * (present when above 0.1 of sum |counts|). */
  for (k = 0; k < K; k++)
    if (isfinite (ct[k]))
      tot += fabs (ct[k]);
  if (!(tot > 0.0))
    return 0;
  for (k = 1; k < K; k++)
    if (isfinite (ct[k]) && ct[k] / tot > GS_LAB_SHARE && ct[k] > bv)
      {
        bv = ct[k];
        best = (long)k;
      }
  return best;
}

static void
md_rate (gs__buf *md, const gs_rate *r)
{
  if (r->n == 0)
    gs__buf_puts (md, " - |");
  else
    gs__buf_printf (md, " %.2f %% [%.2f, %.2f] (%zu) |", 100.0 * r->value,
                    100.0 * r->lo, 100.0 * r->hi, r->n);
}

/* Strings of `group_of` in order of first appearance. */
static size_t
distinct_groups (const gs_lab_input *in, const char **g, int *idx)
{
  size_t G = 0, i, j;
  for (i = 0; i < in->n; i++)
    {
      const char *v = in->group_of[i] ? in->group_of[i] : "";
      for (j = 0; j < G && strcmp (g[j], v) != 0; j++)
        ;
      if (j == G && G < GS_LAB_MAX_GROUPS)
        g[G++] = v;
      idx[i] = j < G ? (int)j : -1;
    }
  return G;
}

static int
single_label (const gs_lab_input *in, gs__buf *md, gs__buf *js)
{
  size_t n = in->n, K = in->K, i, j, g, G = 0, excluded = 0;
  long *truth = malloc ((n ? n : 1) * sizeof *truth);
  int *gi = malloc ((n ? n : 1) * sizeof *gi);
  const char *gname[GS_LAB_MAX_GROUPS];
  size_t *conf = calloc (K * K, sizeof *conf);
  gs__buf csv;
  int rc = GS_OK;
  if (!truth || !gi || !conf)
    {
      free (truth);
      free (gi);
      free (conf);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  for (i = 0; i < n; i++)
    {
      truth[i] = (in->unknown && in->unknown[i])
                     ? -1
                     : first_label (in->labels[i], K, in->names);
      if (truth[i] < 0)
        excluded++;
    }
  if (in->group_of)
    G = distinct_groups (in, gname, gi);
  gs__buf_puts (md, "\n## Single-label accuracy (gamma_flow's rule)\n\n"
                    "Truth: the first nuclide of a spectrum's labels, or "
                    "background when it names none; prediction: the present "
                    "nuclide with the highest score (a method that only "
                    "quantifies: the largest count share above 0.1), or "
                    "background when none is present.  95 % Wilson "
                    "intervals, spectra in parentheses.");
  if (excluded)
    gs__buf_printf (md,
                    "  %zu spectra whose labels name nuclides the "
                    "library lacks are left out (see Outlier "
                    "detection).",
                    excluded);
  gs__buf_puts (md, "\n\n| method | all |");
  for (g = 0; g < G; g++)
    gs__buf_printf (md, " %s %s |", in->group_title, gname[g]);
  gs__buf_puts (md, "\n|---|---|");
  for (g = 0; g < G; g++)
    gs__buf_puts (md, "---|");
  gs__buf_puts (md, "\n");
  gs__buf_puts (js, "\"single_label\": {");
  gs__buf_init (&csv);
  gs__buf_puts (&csv, "method,true,predicted,spectra\n");
  for (j = 0; j < in->n_methods; j++)
    {
      const gs_lab_method *m = &in->methods[j];
      size_t kk[GS_LAB_MAX_GROUPS + 1], nn[GS_LAB_MAX_GROUPS + 1], a, b;
      gs_rate r;
      if (m->failed || !(m->kinds & (GS_KIND_IDENTIFY | GS_KIND_QUANTIFY)))
        continue;
      memset (kk, 0, sizeof kk);
      memset (nn, 0, sizeof nn);
      memset (conf, 0, K * K * sizeof *conf);
      for (i = 0; i < n; i++)
        {
          long p;
          if (truth[i] < 0 || !m->ok[i])
            continue;
          p = predicted (m, i, K);
          conf[(size_t)truth[i] * K + (size_t)p]++;
          nn[0]++;
          kk[0] += p == truth[i];
          if (G && gi[i] >= 0)
            {
              nn[1 + gi[i]]++;
              kk[1 + gi[i]] += p == truth[i];
            }
        }
      gs__buf_printf (md, "| %s |", m->id);
      r = gs_rate_wilson (kk[0], nn[0], 0.95);
      md_rate (md, &r);
      gs__buf_printf (js, "%s", j ? ", " : "");
      gs__buf_json_string (js, m->id);
      gs__buf_puts (js, ": {\"all\": ");
      gs_report_json_rate (js, &r);
      gs__buf_puts (js, ", \"groups\": {");
      for (g = 0; g < G; g++)
        {
          r = gs_rate_wilson (kk[1 + g], nn[1 + g], 0.95);
          md_rate (md, &r);
          gs__buf_printf (js, "%s", g ? ", " : "");
          gs__buf_json_string (js, gname[g]);
          gs__buf_puts (js, ": ");
          gs_report_json_rate (js, &r);
        }
      gs__buf_puts (js, "}}");
      gs__buf_puts (md, "\n");
      for (a = 0; a < K; a++)
        for (b = 0; b < K; b++)
          if (conf[a * K + b])
            gs__buf_printf (&csv, "%s,%s,%s,%zu\n", m->id, in->names[a],
                            in->names[b], conf[a * K + b]);
    }
  gs__buf_puts (js, "}");
  gs__buf_puts (md, "\nConfusion counts (true, predicted) are in "
                    "tables/single_label_confusion.csv.\n");
  if (in->out_dir)
    rc = gs_report_write_table (in->out_dir, "single_label_confusion.csv",
                                &csv);
  gs__buf_fini (&csv);
  free (truth);
  free (gi);
  free (conf);
  return rc;
}

static int
outliers (const gs_lab_input *in, gs__buf *md, gs__buf *js)
{
  size_t n = in->n, i, j, e;
  double *s = malloc ((n ? n : 1) * sizeof *s);
  int *pos = malloc ((n ? n : 1) * sizeof *pos);
  int any = 0;
  if (!s || !pos)
    {
      free (s);
      free (pos);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  gs__buf_printf (md,
                  "\n## Outlier detection\n\nPositives: the %zu "
                  "spectra whose labels name nuclides the library "
                  "lacks (%s); negatives: the other spectra.  AUC with "
                  "DeLong's 95 %% interval for every outlier score "
                  "(higher = more outlying); rates of the method's "
                  "outlier flag with Wilson intervals.\n\n"
                  "| method | score | AUC [95 %% CI] | flagged among "
                  "unknown (TPR) | flagged among known (FPR) |\n"
                  "|---|---|---|---|---|\n",
                  in->n_unknown, in->unknown_names ? in->unknown_names : "");
  gs__buf_puts (js, ", \"outliers\": {");
  for (j = 0; j < in->n_methods; j++)
    {
      const gs_lab_method *m = &in->methods[j];
      long flag = -1;
      gs_rate tpr, fpr;
      int first = 1;
      if (m->failed || !m->extra_names)
        continue;
      for (e = 0; e < m->n_extras; e++)
        if (strcmp (m->extra_names[e], "outlier") == 0)
          flag = (long)e;
      memset (&tpr, 0, sizeof tpr);
      memset (&fpr, 0, sizeof fpr);
      tpr.value = fpr.value = tpr.lo = tpr.hi = fpr.lo = fpr.hi = NAN;
      if (flag >= 0)
        {
          size_t tk = 0, tn = 0, fk = 0, fn = 0;
          for (i = 0; i < n; i++)
            {
              double v = m->extras[i * m->n_extras + (size_t)flag];
              if (!m->ok[i] || isnan (v))
                continue;
              if (in->unknown[i])
                {
                  tn++;
                  tk += v > 0.5;
                }
              else
                {
                  fn++;
                  fk += v > 0.5;
                }
            }
          tpr = gs_rate_wilson (tk, tn, 0.95);
          fpr = gs_rate_wilson (fk, fn, 0.95);
        }
      for (e = 0; e < m->n_extras; e++)
        {
          gs_auc auc;
          size_t k = 0;
          int rc;
          if (strncmp (m->extra_names[e], "outlier_score", 13) != 0)
            continue;
          for (i = 0; i < n; i++)
            {
              double v = m->extras[i * m->n_extras + e];
              if (!m->ok[i])
                continue;
              /* A fit that explains nothing (NaN) or cannot hold a count
               * (+inf) is as outlying as it gets. */
              s[k] = isnan (v) || v > DBL_MAX ? DBL_MAX
                     : v < -DBL_MAX           ? -DBL_MAX
                                              : v;
              pos[k++] = in->unknown[i] != 0;
            }
          rc = gs_metrics_auc (k, s, pos, 0.95, &auc);
          if (rc != GS_OK)
            continue;
          gs__buf_printf (md, "| %s | %s | %.3f [%.3f, %.3f] |", m->id,
                          m->extra_names[e]
                              + (m->extra_names[e][13] == '_' ? 14 : 13),
                          auc.auc, auc.lo, auc.hi);
          md_rate (md, &tpr);
          md_rate (md, &fpr);
          gs__buf_puts (md, "\n");
          if (first)
            {
              gs__buf_printf (js, "%s", any ? ", " : "");
              gs__buf_json_string (js, m->id);
              gs__buf_puts (js, ": {\"flag_tpr\": ");
              gs_report_json_rate (js, &tpr);
              gs__buf_puts (js, ", \"flag_fpr\": ");
              gs_report_json_rate (js, &fpr);
              gs__buf_puts (js, ", \"auc\": {");
            }
          else
            gs__buf_puts (js, ", ");
          gs__buf_json_string (js, m->extra_names[e]);
          gs__buf_puts (js, ": {\"auc\": ");
          gs__buf_json_number (js, auc.auc);
          gs__buf_puts (js, ", \"se\": ");
          gs__buf_json_number (js, auc.se);
          gs__buf_puts (js, ", \"ci95\": [");
          gs__buf_json_number (js, auc.lo);
          gs__buf_puts (js, ", ");
          gs__buf_json_number (js, auc.hi);
          gs__buf_printf (js, "], \"positives\": %zu, \"negatives\": %zu}",
                          auc.n_pos, auc.n_neg);
          first = 0;
          any = 1;
        }
      if (!first)
        gs__buf_puts (js, "}}");
    }
  gs__buf_puts (js, "}");
  if (!any)
    gs__buf_puts (md, "| (no method gives an outlier score) | | | | |\n");
  free (s);
  free (pos);
  return GS_OK;
}

int
gs_report_labelled (const gs_lab_input *in, gs__buf *md, gs__buf *js)
{
  int rc;
  gs__buf_puts (js, "{");
  rc = single_label (in, md, js);
  if (rc == GS_OK && in->unknown && in->n_unknown)
    rc = outliers (in, md, js);
  gs__buf_puts (js, "}");
  return rc;
}
