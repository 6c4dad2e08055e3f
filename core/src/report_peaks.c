/* The "Peak search" report section (issue 8): for every peak-search
 * method on a peak-labelled test set, precision, recall and F1 at the
 * best confidence and AP (gspec/peaks.h, 2 % window), broken down by
 * gross counts, SNR and nuclide (recall), with the P-R curves in
 * tables/peaks_pr.csv. */
#include "report_peaks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/plugin.h"
#include "gspec/status.h"
#include "report.h"

/* Breakdown bins: gross counts (the paper's 1e3..1e5 range in four bins)
 * and SNR (0.1..1). */
static const double gross_edges[5] = { 0, 3e3, 1e4, 3e4, HUGE_VAL };
static const char *const gross_names[4]
    = { "< 3e3", "3e3-1e4", "1e4-3e4", ">= 3e4" };
static const double snr_edges[5] = { 0, 0.3, 0.5, 0.7, HUGE_VAL };
static const char *const snr_names[4]
    = { "< 0.3", "0.3-0.5", "0.5-0.7", ">= 0.7" };

static int
bin_of (const double *edges, double v)
{
  int b;
  for (b = 0; b < 4; b++)
    if (v >= edges[b] && v < edges[b + 1])
      return b;
  return -1;
}

/* F1 at the best confidence over the spectra of one bin (NAN when the bin
 * has no true peak). */
static double
bin_f1 (const gs_peakrep_input *in, const gs_peakrep_method *m,
        const double *edges, const double *v, int b, gs_peak_list *t,
        gs_peak_list *d)
{
  size_t i, k = 0, nt = 0;
  gs_peak_metrics pm;
  for (i = 0; i < in->n; i++)
    if (m->ok[i] && bin_of (edges, v[i]) == b)
      {
        t[k].peaks = in->truth[i];
        t[k].n = in->n_truth[i];
        d[k].peaks = m->peaks[i];
        d[k].n = m->n_peaks[i];
        nt += t[k].n;
        k++;
      }
  if (nt == 0 || gs_peaks_evaluate (k, t, d, in->window, &pm, NULL, NULL))
    return NAN;
  return pm.f1;
}

int
gs_report_peaks (const gs_peakrep_input *in, gs__buf *md, gs__buf *js)
{
  size_t i, j, c, K = in->K;
  gs_peak_list *t = malloc ((in->n ? in->n : 1) * sizeof *t);
  gs_peak_list *d = malloc ((in->n ? in->n : 1) * sizeof *d);
  size_t *hit = calloc (K, sizeof *hit), *tot = calloc (K, sizeof *tot);
  unsigned char *matched = NULL;
  size_t max_t = 0;
  gs__buf pr;
  int rc = GS_OK, first = 1;
  for (i = 0; i < in->n; i++)
    max_t = in->n_truth[i] > max_t ? in->n_truth[i] : max_t;
  matched = malloc (max_t ? max_t : 1);
  if (!t || !d || !hit || !tot || !matched)
    {
      free (t);
      free (d);
      free (hit);
      free (tot);
      free (matched);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  gs__buf_init (&pr);
  gs__buf_puts (&pr, "method,confidence,recall,precision\n");
  gs__buf_printf (md,
                  "\n## Peak search\n\nA detection matches a true "
                  "full-energy peak when its centre is within %g %% of the "
                  "peak's energy (each true peak matched once, most "
                  "confident detection first); precision, recall and F1 at "
                  "the confidence that maximises F1; AP = area under the "
                  "P-R curve (all points, precision made monotone).  P-R "
                  "curves in tables/peaks_pr.csv.\n\n"
                  "| method | precision | recall | F1 | @ confidence | AP | "
                  "true peaks | detections |\n|---|---|---|---|---|---|---|---|"
                  "\n",
                  100 * in->window);
  gs__buf_puts (js, "{");
  for (j = 0; j < in->n_methods; j++)
    {
      const gs_peakrep_method *m = &in->methods[j];
      gs_peak_metrics pm;
      gs_pr_point *curve = NULL;
      size_t n_pr = 0, k = 0;
      if (m->failed)
        continue;
      for (i = 0; i < in->n; i++)
        if (m->ok[i])
          {
            t[k].peaks = in->truth[i];
            t[k].n = in->n_truth[i];
            d[k].peaks = m->peaks[i];
            d[k].n = m->n_peaks[i];
            k++;
          }
      rc = gs_peaks_evaluate (k, t, d, in->window, &pm, &curve, &n_pr);
      if (rc != GS_OK)
        break;
      gs__buf_printf (md,
                      "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %zu | "
                      "%zu |\n",
                      m->id, pm.precision, pm.recall, pm.f1, pm.best_confidence,
                      pm.ap, pm.n_true, pm.n_detections);
      for (c = 0; c < n_pr; c++)
        gs__buf_printf (&pr, "%s,%.9g,%.9g,%.9g\n", m->id, curve[c].confidence,
                        curve[c].recall, curve[c].precision);
      free (curve);
      gs__buf_printf (js, "%s", first ? "" : ", ");
      first = 0;
      gs__buf_json_string (js, m->id);
      gs__buf_puts (js, ": {\"precision\": ");
      gs__buf_json_number (js, pm.precision);
      gs__buf_puts (js, ", \"recall\": ");
      gs__buf_json_number (js, pm.recall);
      gs__buf_puts (js, ", \"f1\": ");
      gs__buf_json_number (js, pm.f1);
      gs__buf_puts (js, ", \"best_confidence\": ");
      gs__buf_json_number (js, pm.best_confidence);
      gs__buf_puts (js, ", \"ap\": ");
      gs__buf_json_number (js, pm.ap);
      gs__buf_printf (js, ", \"true_peaks\": %zu, \"detections\": %zu",
                      pm.n_true, pm.n_detections);
      /* Recall per nuclide at the best confidence. */
      memset (hit, 0, K * sizeof *hit);
      memset (tot, 0, K * sizeof *tot);
      for (i = 0; i < in->n; i++)
        {
          gs_peak_list ti, di;
          size_t q;
          if (!m->ok[i])
            continue;
          ti.peaks = in->truth[i];
          ti.n = in->n_truth[i];
          di.peaks = m->peaks[i];
          di.n = m->n_peaks[i];
          if (gs_peaks_match (&ti, &di, in->window, pm.best_confidence, matched)
              == (size_t)-1)
            {
              rc = GS_ENOMEM;
              break;
            }
          for (q = 0; q < ti.n; q++)
            {
              int comp = ti.peaks[q].component;
              if (comp < 0 || (size_t)comp >= K)
                continue;
              tot[comp]++;
              hit[comp] += matched[q];
            }
        }
      gs__buf_puts (js, ", \"recall_by_component\": {");
      for (c = 0, k = 0; c < K; c++)
        if (tot[c])
          {
            gs__buf_printf (js, "%s", k++ ? ", " : "");
            gs__buf_json_string (js, in->names[c]);
            gs__buf_puts (js, ": ");
            gs__buf_json_number (js, (double)hit[c] / (double)tot[c]);
          }
      gs__buf_puts (js, "}, \"f1_by_gross\": [");
      for (c = 0; c < 4; c++)
        {
          gs__buf_printf (js, "%s", c ? ", " : "");
          gs__buf_json_number (
              js, bin_f1 (in, m, gross_edges, in->gross, (int)c, t, d));
        }
      gs__buf_puts (js, "], \"f1_by_snr\": [");
      for (c = 0; c < 4; c++)
        {
          gs__buf_printf (js, "%s", c ? ", " : "");
          gs__buf_json_number (
              js, bin_f1 (in, m, snr_edges, in->snr, (int)c, t, d));
        }
      gs__buf_puts (js, "]}");
    }
  gs__buf_puts (js, "}");
  /* Breakdown tables. */
  if (rc == GS_OK && in->gross && in->snr)
    {
      size_t b;
      for (b = 0; b < 2; b++)
        {
          const double *edges = b ? snr_edges : gross_edges;
          const double *v = b ? in->snr : in->gross;
          const char *const *names = b ? snr_names : gross_names;
          gs__buf_printf (md, "\nF1 by %s:\n\n| method |",
                          b ? "SNR" : "gross counts");
          for (c = 0; c < 4; c++)
            gs__buf_printf (md, " %s |", names[c]);
          gs__buf_puts (md, "\n|---|---|---|---|---|\n");
          for (j = 0; j < in->n_methods; j++)
            {
              const gs_peakrep_method *m = &in->methods[j];
              if (m->failed)
                continue;
              gs__buf_printf (md, "| %s |", m->id);
              for (c = 0; c < 4; c++)
                {
                  double f = bin_f1 (in, m, edges, v, (int)c, t, d);
                  if (isnan (f))
                    gs__buf_puts (md, " - |");
                  else
                    gs__buf_printf (md, " %.3f |", f);
                }
              gs__buf_puts (md, "\n");
            }
        }
      gs__buf_puts (md, "\nRecall per nuclide at each method's best "
                        "confidence is in results.json "
                        "(recall_by_component).\n");
    }
  if (rc == GS_OK && in->out_dir)
    rc = gs_report_write_table (in->out_dir, "peaks_pr.csv", &pr);
  gs__buf_fini (&pr);
  free (t);
  free (d);
  free (hit);
  free (tot);
  free (matched);
  return rc;
}
