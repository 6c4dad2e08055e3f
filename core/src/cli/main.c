/* gspec: the command-line host. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine.h"
#include "experiment.h"
#include "gspec/core.h"
#include "gspec/formats.h"
#include "gspec/library.h"
#include "gspec/spectra.h"
#include "iae_jobs.h"
#include "run.h"
#include "study.h"
#include "util.h"

static const char *usage_main
    = "usage: gspec [--version] [--help] <command> [<args>]\n"
      "\n"
      "gspec runs gamma-ray spectrum analysis methods (plugins) side by\n"
      "side on shared libraries, datasets and metrics.\n"
      "\n"
      "commands:\n"
      "  methods   list registered methods, or describe one\n"
      "  analyze   run one method on spectra and write its predictions\n"
      "  run       run an experiment config and write a report\n"
      "  train     train a config's trainable methods, write model files\n"
      "  generate  write a config's datasets as labelled sets\n"
      "  study     run a Monte-Carlo unmixing study (SEMSUN design)\n"
      "  export-library  write a trained model's learnt signatures as a\n"
      "            library file\n"
      "  convert   convert spectrum files (N42, SPE, CHN, CNF, CSV, labelled\n"
      "            sets)\n"
      "\n"
      "Run 'gspec <command> --help' for a command's options.\n"
      "Plugins are searched in $GSPEC_PLUGIN_PATH (colon-separated), then\n"
      "beside the executable (plugins/, ../lib/gspec/plugins/).\n";

static const char *usage_methods
    = "usage: gspec methods [--describe ID]\n"
      "\n"
      "Lists every registered method: id, kinds, summary and plugin.\n"
      "  --describe ID   print the method's parameters with defaults,\n"
      "                  ranges and help\n"
      "  -h, --help      this help\n";

static const char *usage_analyze
    = "usage: gspec analyze --method ID [--param k=v]...\n"
      "                     (--library LIB.yaml | --model FILE)\n"
      "                     --input SPECTRA [--output FILE.csv|FILE.json]\n"
      "                     [--rebin overlap|linear] [--denoised PREFIX]\n"
      "                     [--list]\n"
      "                     [--threads N] [--quiet]\n"
      "\n"
      "Analyses every spectrum of SPECTRA (a labelled set NAME.counts.npy\n"
      "+ NAME.meta.csv, or a one-count-per-line text file) with one method.\n"
      "A set with calibration columns (cal_offset_keV, cal_slope_keV,\n"
      "cal_quad_keV) is first rebinned from each spectrum's calibration\n"
      "onto the library's grid.  SPECTRA may also be a spectrum file:\n"
      "ANSI N42.42, IAEA/ORTEC SPE, ORTEC CHN, Canberra CNF or CSV/TXT\n"
      "(detected by content; its energy calibration is used the same way).\n"
      "  --method ID      method id (see 'gspec methods')\n"
      "  --param k=v      set a method parameter (repeatable)\n"
      "  --library FILE   library YAML (e.g. configs/libraries/*.yaml)\n"
      "  --model FILE     a model written by a trained method\n"
      "  --input PATH     spectra to analyse\n"
      "  --output FILE    .csv (default: stdout) or .json; CSV columns:\n"
      "                   index,labels,count_<c>...,std_<c>...,extras\n"
      "  --rebin MODE     overlap: count-conserving (default); linear:\n"
      "                   gamma_flow's interpolation of counts per channel\n"
      "  --denoised PREFIX  write the reconstructions sum_k counts_k x\n"
      "                   signature_k as a labelled set PREFIX.counts.npy\n"
      "                   + PREFIX.meta.csv (methods that learn their own\n"
      "                   signatures, e.g. ml.gammaflow)\n"
      "  --list           print, per spectrum, the identified components\n"
      "                   with counts +- standard deviation, and the\n"
      "                   peaks found (centre, boundaries in keV,\n"
      "                   confidence), instead of CSV on stdout\n"
      "  --threads N      worker threads (default: one per CPU)\n"
      "  --quiet          no progress bar\n"
      "  -h, --help       this help\n";

static const char *usage_convert
    = "usage: gspec convert IN OUT [--format n42|spe|csv|npy] [--index I]\n"
      "\n"
      "Converts spectrum files.  IN: ANSI N42.42 (2006/2012), IAEA/ORTEC\n"
      "SPE, ORTEC CHN, Canberra CNF, CSV/TXT (detected by content), or a\n"
      "labelled set NAME (NAME.counts.npy + NAME.meta.csv, with its\n"
      "calibration columns).  OUT: N42-2012 (.n42, .xml), SPE (.spe), CSV\n"
      "(.csv, .txt) or a labelled set (a name ending in .counts.npy, or\n"
      "--format npy).  Counts, live and real time, start time and the\n"
      "energy calibration are kept.  SPE and CSV hold one spectrum: pick\n"
      "it with --index (0-based) from a file or set of several.\n"
      "  --format F     output format (default: from OUT's extension)\n"
      "  --index I      only spectrum I of IN\n"
      "  -h, --help     this help\n";

static const char *usage_export
    = "usage: gspec export-library --model FILE --out LIB.yaml\n"
      "\n"
      "Writes the signatures a trained model learnt (e.g. ml.gammaflow's\n"
      "loadings, normalised to sum 1) as a self-contained library file\n"
      "(source: inline) on the model's grid, with its component names, for\n"
      "any method's `library:` or `gspec analyze --library`.\n"
      "  --model FILE   a model written by 'gspec train' or 'gspec run'\n"
      "  --out FILE     the library file to write (YAML)\n"
      "  -h, --help     this help\n";

static const char *usage_run_
    = "usage: gspec run CONFIG.yaml [--set key.path=value]... [--out DIR]\n"
      "                 [--threads N] [--quiet] [--fresh] [--in-process]\n"
      "\n"
      "Runs an experiment: library, datasets (or a GammaBench scenario),\n"
      "methods, metrics.  Every method sees the same train, validation\n"
      "and test spectra; trainable methods train on train; score methods\n"
      "get their threshold calibrated on validation to target_fpr.  Each\n"
      "method runs in its own process: a crash fails that method only.\n"
      "Writes DIR/results.json, DIR/summary.md (tables laid out like the\n"
      "benchmark paper's), DIR/tables/*.csv, DIR/plots/ (gnuplot SVG and\n"
      "PNG with their data and scripts), DIR/predictions/<id>.csv,\n"
      "DIR/models/<id>.gsm and DIR/checkpoints/.  Running the same command\n"
      "again (e.g. after an interruption) reuses every finished method.\n"
      "  --set k=v      override a config value (e.g. --set seed=7,\n"
      "                 --set scenario.spectra=5000); repeatable\n"
      "  --out DIR      output folder (default: outputs.dir of the config)\n"
      "  --threads N    worker threads (default: config, else one per CPU);\n"
      "                 the numbers are the same at any thread count\n"
      "  --fresh        recompute every method, ignoring checkpoints\n"
      "  --in-process   run methods in this process (for debuggers)\n"
      "  --quiet        no progress bar, no summary on stdout\n"
      "  -h, --help     this help\n";

static const char *usage_train
    = "usage: gspec train CONFIG.yaml [--method ID] [--out DIR]\n"
      "                   [--set key.path=value]... [--threads N] [--quiet]\n"
      "\n"
      "Trains the config's trainable methods on its train set (validation\n"
      "set for early stopping), calibrates score methods' thresholds on\n"
      "the validation set, and writes DIR/models/<id>.gsm, which\n"
      "'gspec analyze --model' loads.  A config with an `iae_training:`\n"
      "block (e.g. configs/iae-semsun.yaml) trains Interpolating\n"
      "AutoEncoders on the GammaBench signature family instead and writes\n"
      "DIR/models/<name>.gsia, DIR/training.json and DIR/summary.md\n"
      "(--method NAME: only that model).\n"
      "  --method ID    only this method (a score method without training\n"
      "                 is then calibrated and saved too)\n"
      "  --out DIR      output folder (default: outputs.dir of the config)\n"
      "  --set k=v      override a config value; repeatable\n"
      "  --threads N    worker threads\n"
      "  --in-process   train in this process\n"
      "  --quiet        no progress bar\n"
      "  -h, --help     this help\n";

static const char *usage_generate
    = "usage: gspec generate CONFIG.yaml [--out DIR] [--set k=v]...\n"
      "\n"
      "Draws the config's datasets (a scenario's train, valid and test\n"
      "splits, or its generated sets) and writes each as a labelled set:\n"
      "DIR/spectra/<name>.counts.npy + <name>.meta.csv with the labels,\n"
      "the true counts (counts_<component>) and, for scenarios 2 and 3,\n"
      "the thickness or gain shift of every spectrum.\n"
      "  --out DIR      output folder (default: outputs.dir of the config)\n"
      "  --set k=v      override a config value; repeatable\n"
      "  --quiet        no progress bar\n"
      "  -h, --help     this help\n";

static const char *usage_study
    = "usage: gspec study CONFIG.yaml [--out DIR] [--threads N]\n"
      "                   [--set k=v]... [--quiet]\n"
      "\n"
      "Runs a Monte-Carlo study with known truth (the SEMSUN paper's\n"
      "section 5.1 design, e.g. configs/semsun-study.yaml): a background\n"
      "and nuclides at a true shielding thickness, Poisson spectra at each\n"
      "total count, every method started from the signatures at a start\n"
      "thickness (oracle, nnpu, nmf, semsun-j, semsun-i).  Writes\n"
      "DIR/summary.md (NMSE of the signatures in dB, relative errors of\n"
      "the counts), DIR/results.json and DIR/spectra.csv.  The numbers are\n"
      "the same at any thread count.\n"
      "  --out DIR      output folder (default: outputs.dir of the config)\n"
      "  --threads N    worker threads (default: config, else one per CPU)\n"
      "  --set k=v      override a config value (e.g. --set\n"
      "                 study.spectra=50); repeatable\n"
      "  --quiet        no progress, no summary on stdout\n"
      "  -h, --help     this help\n";

static int
is_help (const char *a)
{
  return strcmp (a, "-h") == 0 || strcmp (a, "--help") == 0;
}

/* Takes the value of option argv[*i] (as "--opt value" or "--opt=value").
 * Returns NULL, with a message, when missing. */
static const char *
opt_value (int argc, char **argv, int *i, const char *name)
{
  size_t n = strlen (name);
  if (strncmp (argv[*i], name, n) == 0 && argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (*i + 1 >= argc)
    {
      fprintf (stderr, "gspec: option %s needs a value\n", name);
      return NULL;
    }
  return argv[++*i];
}

static int
opt_is (const char *arg, const char *name)
{
  size_t n = strlen (name);
  return strncmp (arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int
fail (int rc)
{
  fprintf (stderr, "gspec: error: %s\n",
           gs_last_error ()[0] ? gs_last_error () : gs_strerror (rc));
  return rc == GS_ECONFIG || rc == GS_EINVAL ? 2 : 1;
}

static const char *
kinds_str (uint32_t k, char *buf, size_t size)
{
  snprintf (buf, size, "%s%s%s%s", (k & GS_KIND_IDENTIFY) ? "I" : "-",
            (k & GS_KIND_QUANTIFY) ? "Q" : "-",
            (k & GS_KIND_VARIABILITY) ? "V" : "-",
            (k & GS_KIND_PEAKS) ? "P" : "-");
  return buf;
}

static int
cmd_methods (int argc, char **argv)
{
  const char *describe = NULL;
  gs_registry *reg;
  size_t i;
  int k;
  for (k = 1; k < argc; k++)
    {
      if (is_help (argv[k]))
        {
          fputs (usage_methods, stdout);
          return 0;
        }
      else if (opt_is (argv[k], "--describe"))
        {
          if (!(describe = opt_value (argc, argv, &k, "--describe")))
            return 2;
        }
      else
        {
          fprintf (stderr, "gspec methods: unknown argument '%s'\n%s",
                   argv[k], usage_methods);
          return 2;
        }
    }
  reg = gs_registry_alloc ();
  if (!reg)
    return fail (GS_ENOMEM);
  gs_registry_load_default (reg);
  if (describe)
    {
      for (i = 0; i < gs_registry_count (reg); i++)
        {
          const gs_method_type *t = gs_registry_method (reg, i);
          const gs_plugin_info *pi = gs_registry_method_plugin (reg, i);
          char kb[8];
          size_t e, ne;
          if (strcmp (t->id, describe) != 0)
            continue;
          printf ("%s\n  %s\n\n", t->id, t->summary);
          printf ("  kinds:     %s (I identify, Q quantify, V variability, "
                  "P peaks)\n",
                  kinds_str (t->kinds, kb, sizeof kb));
          printf ("  training:  %s\n", t->train ? "required" : "none");
          printf ("  library:   %s\n", (t->flags & GS_METHOD_NEEDS_LIBRARY)
                                           ? "required"
                                           : "optional");
          printf ("  plugin:    %s %s (%s), %s\n", pi->name, pi->version,
                  pi->license ? pi->license : "?",
                  gs_registry_method_path (reg, i));
          ne = gs_method_n_extras (t);
          if (ne)
            {
              printf ("  extras:   ");
              for (e = 0; e < ne; e++)
                printf (" %s", t->extras[e]);
              printf ("\n");
            }
          printf ("\nparameters:\n");
          gs_params_describe (t, stdout);
          gs_registry_free (reg);
          return 0;
        }
      gs_error (GS_ENOENT, "no method '%s' is registered; see 'gspec "
                           "methods'",
                describe);
      gs_registry_free (reg);
      return fail (GS_ENOENT);
    }
  printf ("%-24s %-5s %-28s %s\n", "id", "kinds", "plugin", "summary");
  for (i = 0; i < gs_registry_count (reg); i++)
    {
      const gs_method_type *t = gs_registry_method (reg, i);
      const gs_plugin_info *pi = gs_registry_method_plugin (reg, i);
      char kb[8], pv[64];
      snprintf (pv, sizeof pv, "%s %s", pi->name, pi->version);
      printf ("%-24s %-5s %-28s %s\n", t->id,
              kinds_str (t->kinds, kb, sizeof kb), pv, t->summary);
    }
  if (gs_registry_count (reg) == 0)
    printf ("(no methods: no plugin found; set GSPEC_PLUGIN_PATH)\n");
  gs_registry_free (reg);
  return 0;
}

static int
ends_with (const char *s, const char *suffix)
{
  size_t a = strlen (s), b = strlen (suffix);
  return a >= b && strcmp (s + a - b, suffix) == 0;
}

/* The identified components of every spectrum with counts +- std: the
 * present ones for a method that decides, else those with counts. */
static void
print_list (const gs_predictions *p, const gs_library *lib,
            const gs_spectra *sp)
{
  size_t i, k, K = p->K;
  for (i = 0; i < p->n; i++)
    {
      int any = 0;
      printf ("spectrum %zu", i);
      if (sp->labels && sp->labels[i] && *sp->labels[i])
        printf (" (labels %s)", sp->labels[i]);
      if (p->status[i] != GS_OK)
        {
          printf (": failed: %s\n", p->errors[i] ? p->errors[i] : "");
          continue;
        }
      printf (":\n");
      for (k = 0; k < K; k++)
        {
          const int *pr = p->present + i * K;
          double c = p->counts[i * K + k], sd = p->std[i * K + k];
          int decided = pr[k] >= 0;
          if (decided ? pr[k] != 1 : !(c > 0))
            continue;
          any = 1;
          printf ("  %-12s", lib->names[k]);
          if (isfinite (c))
            printf (" %12.1f", c);
          else
            printf (" %12s", "present");
          if (isfinite (sd))
            printf (" +- %.1f", sd);
          printf (" counts\n");
        }
      for (k = 0; k < p->n_peaks[i]; k++)
        {
          const gs_peak *q = &p->peaks[i][k];
          any = 1;
          printf ("  peak %9.2f keV  [%9.2f, %9.2f]  confidence %.3f",
                  q->centre_kev, q->left_kev, q->right_kev, q->confidence);
          if (q->component >= 0 && (size_t)q->component < K)
            printf ("  %s", lib->names[q->component]);
          printf ("\n");
        }
      if (!any)
        printf ("  (nothing identified)\n");
    }
}

/* Writes sum_k counts_k x learnt signature_k of every spectrum as a
 * labelled set with the input's labels and meta (failed spectra: 0). */
static int
write_denoised (const gs_method *m, const gs_library *lib, gs_spectra *sp,
                const gs_predictions *pred, const char *prefix)
{
  size_t C = lib->n_channels, K = lib->n_components, i, c, k;
  double *sig = malloc (C * K * sizeof (double));
  double *rec = calloc ((sp->n_spectra ? sp->n_spectra : 1) * C,
                        sizeof (double));
  double *keep;
  int rc;
  if (!sig || !rec)
    {
      free (sig);
      free (rec);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  rc = gs_method_signatures (m, K, sig);
  for (i = 0; rc == GS_OK && i < sp->n_spectra; i++)
    {
      if (pred->status[i] != GS_OK)
        continue;
      for (k = 0; k < K; k++)
        {
          double a = pred->counts[i * K + k];
          if (!isfinite (a) || a == 0.0)
            continue;
          for (c = 0; c < C; c++)
            rec[i * C + c] += a * sig[c * K + k];
        }
    }
  if (rc == GS_OK)
    {
      keep = sp->counts;
      sp->counts = rec;
      rc = gs_spectra_write_labelled (sp, prefix);
      sp->counts = keep;
    }
  free (sig);
  free (rec);
  return rc;
}

/* Output format of `gspec convert` from --format or OUT's extension:
 * GS_FORMAT_* or -1 for a labelled set, -2 unknown. */
static int
convert_target (const char *out, const char *fmt)
{
  const char *dot;
  if (fmt)
    return strcmp (fmt, "npy") == 0 ? -1
           : gs_format_from_name (fmt) != GS_FORMAT_UNKNOWN
                   && gs_format_from_name (fmt) != GS_FORMAT_CHN
                   && gs_format_from_name (fmt) != GS_FORMAT_CNF
               ? (int)gs_format_from_name (fmt)
               : -2;
  if (ends_with (out, ".counts.npy"))
    return -1;
  dot = strrchr (out, '.');
  if (!dot)
    return -2;
  if (strcasecmp (dot, ".n42") == 0 || strcasecmp (dot, ".xml") == 0)
    return GS_FORMAT_N42;
  if (strcasecmp (dot, ".spe") == 0)
    return GS_FORMAT_SPE;
  if (strcasecmp (dot, ".csv") == 0 || strcasecmp (dot, ".txt") == 0)
    return GS_FORMAT_CSV;
  return -2;
}

static int
cmd_convert (int argc, char **argv)
{
  const char *in = NULL, *out = NULL, *fmt = NULL, *idx = NULL;
  gs_spectra *sp = NULL;
  gs_specfile *sf = NULL;
  long index = -1;
  int k, target, rc;
  for (k = 1; k < argc; k++)
    {
      if (is_help (argv[k]))
        {
          fputs (usage_convert, stdout);
          return 0;
        }
      if (opt_is (argv[k], "--format"))
        {
          if (!(fmt = opt_value (argc, argv, &k, "--format")))
            return 2;
        }
      else if (opt_is (argv[k], "--index"))
        {
          if (!(idx = opt_value (argc, argv, &k, "--index"))
              || gs__parse_long (idx, &index) != GS_OK || index < 0)
            {
              fprintf (stderr, "gspec convert: --index needs an integer "
                               ">= 0\n");
              return 2;
            }
        }
      else if (argv[k][0] == '-' && argv[k][1])
        {
          fprintf (stderr, "gspec convert: unknown option '%s'\n%s",
                   argv[k], usage_convert);
          return 2;
        }
      else if (!in)
        in = argv[k];
      else if (!out)
        out = argv[k];
      else
        {
          fprintf (stderr, "gspec convert: one IN and one OUT, got '%s' "
                           "too\n%s",
                   argv[k], usage_convert);
          return 2;
        }
    }
  if (!in || !out)
    {
      fprintf (stderr, "gspec convert: need IN and OUT\n%s", usage_convert);
      return 2;
    }
  target = convert_target (out, fmt);
  if (target == -2)
    {
      fprintf (stderr,
               "gspec convert: cannot tell the output format of '%s'; use "
               ".n42, .spe, .csv or .counts.npy, or --format "
               "n42|spe|csv|npy\n",
               out);
      return 2;
    }
  if ((rc = gs_spectra_read (in, &sp)) != GS_OK)
    goto done;
  if (index >= 0 && (size_t)index >= sp->n_spectra)
    {
      rc = gs_error (GS_EINVAL, "--index %ld: '%s' holds %zu spectra (0..%zu)",
                     index, in, sp->n_spectra,
                     sp->n_spectra ? sp->n_spectra - 1 : 0);
      goto done;
    }
  if ((rc = gs_specfile_from_spectra (sp, &sf)) != GS_OK)
    goto done;
  if (index >= 0)
    {
      /* Keep measurement `index` only, as measurement 0. */
      gs_measurement keep = sf->m[index];
      size_t j;
      sf->m[index] = sf->m[0];
      sf->m[0] = keep;
      for (j = 1; j < sf->n; j++)
        {
          free (sf->m[j].counts);
          free (sf->m[j].title);
          free (sf->m[j].detector);
        }
      sf->n = 1;
    }
  if ((target == GS_FORMAT_SPE || target == GS_FORMAT_CSV) && sf->n > 1)
    {
      rc = gs_error (GS_EINVAL,
                     "'%s' holds %zu spectra but %s holds one; pick it with "
                     "--index I (0..%zu), or write N42 or a labelled set",
                     in, sf->n, gs_format_name ((gs_format)target), sf->n - 1);
      goto done;
    }
  if (target == -1)
    {
      gs_spectra *w = NULL;
      char *prefix = ends_with (out, ".counts.npy")
                         ? gs__strndup (out, strlen (out) - 11)
                         : gs__strdup (out);
      rc = gs_specfile_to_spectra (sf, &w);
      if (rc == GS_OK)
        rc = gs_spectra_write_labelled (w, prefix);
      gs_spectra_free (w);
      free (prefix);
    }
  else
    rc = gs_specfile_write (sf, out, (gs_format)target);
  if (rc == GS_OK)
    printf ("wrote %s (%zu spectr%s)\n", out, sf->n, sf->n == 1 ? "um" : "a");
done:
  gs_specfile_free (sf);
  gs_spectra_free (sp);
  return rc == GS_OK ? 0 : fail (rc);
}

static int
cmd_export_library (int argc, char **argv)
{
  const char *model = NULL, *out = NULL;
  gs_registry *reg = NULL;
  gs_method *m = NULL;
  gs_library *lib = NULL, *exp = NULL;
  gs_model_info minfo;
  int k, rc;
  memset (&minfo, 0, sizeof minfo);
  for (k = 1; k < argc; k++)
    {
      if (is_help (argv[k]))
        {
          fputs (usage_export, stdout);
          return 0;
        }
      if (opt_is (argv[k], "--model"))
        {
          if (!(model = opt_value (argc, argv, &k, "--model")))
            return 2;
        }
      else if (opt_is (argv[k], "--out"))
        {
          if (!(out = opt_value (argc, argv, &k, "--out")))
            return 2;
        }
      else
        {
          fprintf (stderr, "gspec export-library: unknown argument '%s'\n%s",
                   argv[k], usage_export);
          return 2;
        }
    }
  if (!model || !out)
    {
      fprintf (stderr, "gspec export-library: need --model and --out\n%s",
               usage_export);
      return 2;
    }
  reg = gs_registry_alloc ();
  if (!reg)
    return fail (GS_ENOMEM);
  gs_registry_load_default (reg);
  rc = gs_model_load (model, reg, &m, &lib, &minfo);
  if (rc == GS_OK && !(exp = gs_library_alloc (lib->n_channels,
                                               lib->n_components)))
    rc = GS_ENOMEM;
  if (rc == GS_OK)
    {
      size_t j;
      memcpy (exp->energy_edges, lib->energy_edges,
              (lib->n_channels + 1) * sizeof (double));
      for (j = 0; rc == GS_OK && j < lib->n_components; j++)
        rc = gs_library_set_name (exp, j, lib->names[j]);
      if (rc == GS_OK)
        rc = gs_method_signatures (m, lib->n_components, exp->signatures);
      if (rc == GS_OK)
        {
          exp->description
              = gs__asprintf ("signatures learnt by %s, exported from %s",
                              gs_method_type_of (m)->id, model);
          rc = gs_library_write_inline (exp, out);
        }
    }
  if (rc == GS_OK)
    printf ("wrote %s (%zu channels, %zu components)\n", out,
            exp->n_channels, exp->n_components);
  free (minfo.thresholds);
  gs_library_free (exp);
  gs_method_free (m);
  gs_library_free (lib);
  gs_registry_free (reg);
  return rc == GS_OK ? 0 : fail (rc);
}

static int
cmd_analyze (int argc, char **argv)
{
  const char *method = NULL, *library = NULL, *model = NULL, *input = NULL,
             *output = NULL, *rebin = NULL, *denoised = NULL;
  int list = 0;
  const char **params = calloc ((size_t)argc, sizeof (char *));
  size_t n_params = 0, i;
  int k, threads = 0, quiet = 0, rc = GS_OK, exit_code = 0;
  gs_registry *reg = NULL;
  gs_library *lib = NULL;
  gs_method *m = NULL;
  gs_spectra *sp = NULL;
  gs_spectra_ds sds;
  gs_dataset ds;
  gs_predictions *pred = NULL;
  void *pblock = NULL;
  const gs_method_type *t;
  gs_model_info minfo;
  memset (&sds, 0, sizeof sds);
  memset (&minfo, 0, sizeof minfo);
  if (!params)
    return fail (GS_ENOMEM);
  for (k = 1; k < argc; k++)
    {
      const char *a = argv[k];
      if (is_help (a))
        {
          fputs (usage_analyze, stdout);
          free (params);
          return 0;
        }
#define TAKE(name, var)                                                      \
  else if (opt_is (a, name))                                                 \
  {                                                                          \
    if (!(var = opt_value (argc, argv, &k, name)))                           \
      {                                                                      \
        free (params);                                                       \
        return 2;                                                            \
      }                                                                      \
  }
      TAKE ("--method", method)
      TAKE ("--library", library)
      TAKE ("--model", model)
      TAKE ("--input", input)
      TAKE ("--output", output)
      TAKE ("--rebin", rebin)
      TAKE ("--denoised", denoised)
#undef TAKE
      else if (opt_is (a, "--param"))
      {
        const char *v = opt_value (argc, argv, &k, "--param");
        if (!v)
          {
            free (params);
            return 2;
          }
        params[n_params++] = v;
      }
      else if (opt_is (a, "--threads"))
      {
        const char *v = opt_value (argc, argv, &k, "--threads");
        long t2;
        if (!v || gs__parse_long (v, &t2) != GS_OK || t2 < 0 || t2 > 1024)
          {
            fprintf (stderr, "gspec analyze: --threads needs an integer "
                             "in [0, 1024]\n");
            free (params);
            return 2;
          }
        threads = (int)t2;
      }
      else if (strcmp (a, "--quiet") == 0)
        quiet = 1;
      else if (strcmp (a, "--list") == 0)
        list = 1;
      else
      {
        fprintf (stderr, "gspec analyze: unknown argument '%s'\n%s", a,
                 usage_analyze);
        free (params);
        return 2;
      }
    }
  if (!input || (!method && !model) || (!!library + !!model) != 1)
    {
      fprintf (stderr, "gspec analyze: need --input, and --method with "
                       "--library, or --model\n%s",
               usage_analyze);
      free (params);
      return 2;
    }
  gs_engine_progress_enable (!quiet);
  reg = gs_registry_alloc ();
  if (!reg)
    {
      rc = GS_ENOMEM;
      goto out;
    }
  gs_registry_load_default (reg);
  if (model)
    {
      if ((rc = gs_model_load (model, reg, &m, &lib, &minfo)) != GS_OK)
        goto out;
      t = gs_method_type_of (m);
      if (method && strcmp (method, t->id) != 0)
        {
          rc = gs_error (GS_EINVAL,
                         "--method %s does not match the model's method %s",
                         method, t->id);
          goto out;
        }
      if (n_params)
        {
          rc = gs_error (GS_EINVAL, "--param cannot change a loaded model; "
                                    "retrain with new parameters");
          goto out;
        }
    }
  else
    {
      gs_setup setup;
      t = gs_registry_find (reg, method);
      if (!t)
        {
          rc = gs_error (GS_ENOENT, "no method '%s' is registered; see "
                                    "'gspec methods'",
                         method);
          goto out;
        }
      if (t->train)
        {
          rc = gs_error (GS_EINVAL,
                         "method '%s' must be trained first; give --model "
                         "FILE (written by 'gspec run' or 'gspec train')",
                         t->id);
          goto out;
        }
      if ((rc = gs_library_load_file (library, &lib)) != GS_OK)
        goto out;
      pblock = gs_params_alloc (t);
      if (!pblock)
        {
          rc = GS_ENOMEM;
          goto out;
        }
      for (i = 0; i < n_params; i++)
        {
          char *eq = strchr (params[i], '=');
          char *name;
          if (!eq)
            {
              rc = gs_error (GS_EINVAL, "--param '%s' must be name=value",
                             params[i]);
              goto out;
            }
          name = gs__strndup (params[i], (size_t)(eq - params[i]));
          rc = gs_params_set (t, pblock, name, eq + 1, "--param");
          free (name);
          if (rc != GS_OK)
            goto out;
        }
      memset (&setup, 0, sizeof setup);
      setup.struct_size = (uint32_t)sizeof setup;
      setup.library = gs_library_as_view (lib);
      setup.target_fpr = 0.01;
      if ((rc = gs_method_alloc (t, pblock, &setup, &m)) != GS_OK)
        goto out;
    }
  if (rebin && strcmp (rebin, "overlap") != 0 && strcmp (rebin, "linear") != 0)
    {
      rc = gs_error (GS_EINVAL, "--rebin must be overlap or linear, got '%s'",
                     rebin);
      goto out;
    }
  if ((rc = gs_spectra_read (input, &sp)) != GS_OK)
    goto out;
  if ((rc = gs_spectra_to_library_grid (
           sp, lib,
           rebin && strcmp (rebin, "linear") == 0 ? GS_REBIN_LINEAR
                                                  : GS_REBIN_OVERLAP,
           NULL))
      != GS_OK)
    goto out;
  if ((rc = gs_spectra_ds_init (&sds, sp, lib)) != GS_OK)
    {
      /* Unknown labels only matter for metrics: analyse anyway. */
      memset (&sds, 0, sizeof sds);
      sds.s = sp;
      sds.K = lib->n_components;
      rc = GS_OK;
    }
  ds = gs_spectra_ds_dataset (&sds);
  if ((rc = gs_engine_analyze (m, &ds, threads, "analyze", &pred)) != GS_OK)
    goto out;
  if (minfo.thresholds)
    gs_predictions_apply_thresholds (pred, minfo.thresholds);
  if (list)
    print_list (pred, lib, sp);
  else if (!output)
    {
      char tmpl[] = "/tmp/gspec-analyze-XXXXXX";
      int fd = mkstemp (tmpl);
      char *text = NULL;
      if (fd < 0)
        {
          rc = gs_error (GS_EIO, "cannot create a temporary file");
          goto out;
        }
      close (fd);
      rc = gs_predictions_write_csv (pred, (const char *const *)lib->names,
                                     t->extras, tmpl);
      if (rc == GS_OK && gs__read_file (tmpl, &text, NULL) == GS_OK)
        fputs (text, stdout);
      free (text);
      unlink (tmpl);
    }
  if (!output)
    ;
  else if (ends_with (output, ".json"))
    rc = gs_predictions_write_json (pred, (const char *const *)lib->names,
                                    t->extras, output);
  else if (ends_with (output, ".csv"))
    rc = gs_predictions_write_csv (pred, (const char *const *)lib->names,
                                   t->extras, output);
  else
    rc = gs_error (GS_EINVAL, "--output must end in .csv or .json: '%s'",
                   output);
  if (rc == GS_OK && denoised)
    rc = write_denoised (m, lib, sp, pred, denoised);
  if (rc == GS_OK && pred->n_failed)
    {
      for (i = 0; i < pred->n && !pred->errors[i]; i++)
        ;
      fprintf (stderr,
               "gspec analyze: %zu of %zu spectra failed (first, spectrum "
               "%zu: %s)\n",
               pred->n_failed, pred->n, i, i < pred->n ? pred->errors[i] : "");
      exit_code = 1;
    }
out:
  free (minfo.thresholds);
  gs_predictions_free (pred);
  gs_spectra_ds_fini (&sds);
  gs_spectra_free (sp);
  gs_method_free (m);
  gs_params_free (pblock);
  gs_library_free (lib);
  gs_registry_free (reg);
  free (params);
  if (rc != GS_OK)
    return fail (rc);
  return exit_code;
}

static int
cmd_run (int argc, char **argv, gs_run_mode mode)
{
  gs_run_opts o;
  char **sets = calloc ((size_t)argc, sizeof (char *));
  const char *usage_run = mode == GS_RUN_TRAIN      ? usage_train
                          : mode == GS_RUN_GENERATE ? usage_generate
                                                    : usage_run_;
  const char *cmd = mode == GS_RUN_TRAIN      ? "train"
                    : mode == GS_RUN_GENERATE ? "generate"
                                              : "run";
  int k, rc;
  gs_run_opts_init (&o);
  o.mode = mode;
  if (!sets)
    return fail (GS_ENOMEM);
  o.overrides = sets;
  for (k = 1; k < argc; k++)
    {
      const char *a = argv[k];
      if (is_help (a))
        {
          fputs (usage_run, stdout);
          free (sets);
          return 0;
        }
      else if (opt_is (a, "--set"))
        {
          const char *v = opt_value (argc, argv, &k, "--set");
          if (!v)
            {
              free (sets);
              return 2;
            }
          sets[o.n_overrides++] = (char *)v;
        }
      else if (opt_is (a, "--out"))
        {
          if (!(o.out_dir = opt_value (argc, argv, &k, "--out")))
            {
              free (sets);
              return 2;
            }
        }
      else if (opt_is (a, "--threads"))
        {
          const char *v = opt_value (argc, argv, &k, "--threads");
          long t2;
          if (!v || gs__parse_long (v, &t2) != GS_OK || t2 < 0 || t2 > 1024)
            {
              fprintf (stderr, "gspec %s: --threads needs an integer in "
                               "[0, 1024]\n",
                       cmd);
              free (sets);
              return 2;
            }
          o.threads = (int)t2;
        }
      else if (strcmp (a, "--quiet") == 0)
        o.quiet = 1;
      else if (strcmp (a, "--fresh") == 0 && mode == GS_RUN_EVALUATE)
        o.fresh = 1;
      else if (strcmp (a, "--in-process") == 0 && mode != GS_RUN_GENERATE)
        o.in_process = 1;
      else if (opt_is (a, "--method") && mode == GS_RUN_TRAIN)
        {
          if (!(o.method = opt_value (argc, argv, &k, "--method")))
            {
              free (sets);
              return 2;
            }
        }
      else if (a[0] == '-')
        {
          fprintf (stderr, "gspec %s: unknown option '%s'\n%s", cmd, a,
                   usage_run);
          free (sets);
          return 2;
        }
      else if (!o.config)
        o.config = a;
      else
        {
          fprintf (stderr, "gspec %s: one config only ('%s' is extra)\n%s",
                   cmd, a, usage_run);
          free (sets);
          return 2;
        }
    }
  if (!o.config)
    {
      fprintf (stderr, "gspec %s: missing CONFIG.yaml\n%s", cmd, usage_run);
      free (sets);
      return 2;
    }
  gs_engine_progress_enable (!o.quiet);
  if (mode == GS_RUN_TRAIN && gs_iae_jobs_detect (o.config))
    rc = gs_iae_jobs_run (&o);
  else
    rc = gs_run (&o);
  free (sets);
  return rc == GS_OK ? 0 : fail (rc);
}

/* A relative GSPEC_DATA is taken relative to the current directory, the
 * way a user typing it means it, not to each config's folder. */
static void
absolutise_data_env (void)
{
  const char *d = getenv ("GSPEC_DATA");
  char cwd[4096];
  if (d && *d && d[0] != '/' && getcwd (cwd, sizeof cwd))
    {
      char *abs = gs__path_join (cwd, d);
      if (abs)
        setenv ("GSPEC_DATA", abs, 1);
      free (abs);
    }
}

static int
cmd_study (int argc, char **argv)
{
  gs_study_opts o;
  char **sets = calloc ((size_t)argc, sizeof (char *));
  int k, rc;
  gs_study_opts_init (&o);
  if (!sets)
    return fail (GS_ENOMEM);
  o.overrides = sets;
  for (k = 1; k < argc; k++)
    {
      const char *a = argv[k], *v;
      long t;
      if (is_help (a))
        {
          fputs (usage_study, stdout);
          free (sets);
          return 0;
        }
      else if (opt_is (a, "--set") || opt_is (a, "--out")
               || opt_is (a, "--threads"))
        {
          const char *name = opt_is (a, "--set")   ? "--set"
                             : opt_is (a, "--out") ? "--out"
                                                   : "--threads";
          if (!(v = opt_value (argc, argv, &k, name)))
            {
              free (sets);
              return 2;
            }
          if (name[2] == 's')
            sets[o.n_overrides++] = (char *)v;
          else if (name[2] == 'o')
            o.out_dir = v;
          else if (gs__parse_long (v, &t) != GS_OK || t < 0 || t > 1024)
            {
              fprintf (stderr,
                       "gspec study: --threads needs an integer in [0, "
                       "1024]\n");
              free (sets);
              return 2;
            }
          else
            o.threads = (int)t;
        }
      else if (strcmp (a, "--quiet") == 0)
        o.quiet = 1;
      else if (a[0] == '-' || o.config)
        {
          fprintf (stderr, "gspec study: unexpected argument '%s'\n\n%s", a,
                   usage_study);
          free (sets);
          return 2;
        }
      else
        o.config = a;
    }
  if (!o.config)
    {
      fprintf (stderr, "gspec study: no config given\n\n%s", usage_study);
      free (sets);
      return 2;
    }
  rc = gs_study_run (&o);
  free (sets);
  return rc == GS_OK ? 0 : fail (rc);
}

int
main (int argc, char **argv)
{
  gs_core_init ();
  absolutise_data_env ();
  if (argc < 2 || is_help (argv[1]))
    {
      fputs (usage_main, argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("gspec %s (plugin ABI %d.%d)\n", gs_version (), GS_ABI_MAJOR,
              GS_ABI_MINOR);
      return 0;
    }
  if (strcmp (argv[1], "methods") == 0)
    return cmd_methods (argc - 1, argv + 1);
  if (strcmp (argv[1], "analyze") == 0)
    return cmd_analyze (argc - 1, argv + 1);
  if (strcmp (argv[1], "run") == 0)
    return cmd_run (argc - 1, argv + 1, GS_RUN_EVALUATE);
  if (strcmp (argv[1], "train") == 0)
    return cmd_run (argc - 1, argv + 1, GS_RUN_TRAIN);
  if (strcmp (argv[1], "generate") == 0)
    return cmd_run (argc - 1, argv + 1, GS_RUN_GENERATE);
  if (strcmp (argv[1], "study") == 0)
    return cmd_study (argc - 1, argv + 1);
  if (strcmp (argv[1], "export-library") == 0)
    return cmd_export_library (argc - 1, argv + 1);
  if (strcmp (argv[1], "convert") == 0)
    return cmd_convert (argc - 1, argv + 1);
  fprintf (stderr, "gspec: unknown command '%s'\n\n%s", argv[1], usage_main);
  return 2;
}
