/* P-OMP and P-OMP with gain shift: exports libraries and spectra for the
 * Python reference (bench/reference_pomp.py) and times gspec's methods
 * on the same spectra, single thread.
 *
 * usage:
 *   gspec_bench_pomp export LIB.npy SOURCE
 *       writes the library matrix (channels x components, column 0 the
 *       background, columns summing to 1).
 *   gspec_bench_pomp draw Y.npy N SEED SOURCE
 *       writes N spectra (N x channels counts) and, beside it, Y.npy.lib.npy
 *       (the library methods get).  A library file or a GammaBench
 *       library: N mixtures from the spec 2.1 sampler (gspec/synth.h) with
 *       the given seed; a scenario: the first N spectra of the test split
 *       of the scenario drawn with that seed and 5 N + 5 rows
 *       (gs_scenario_spectrum), with its reference library.
 *   gspec_bench_pomp time METHOD Y.npy OUT.json SOURCE [--fpr A]
 *                   [--param NAME=VALUE]... [--plugins DIR] [--n N]
 *       runs METHOD (e.g. unmixing.pomp, unmixing.pomp-shift) on the
 *       spectra of Y.npy with the library of SOURCE (for a scenario: its
 *       reference library) on one thread, writes per spectrum {"Iden":
 *       sorted identified components, background 0 included, "a": counts,
 *       "shift": [gain_shift, offset] when the method returns them} and
 *       prints GSPEC_MS <ms/spectrum>.
 *
 * SOURCE is one of
 *   --yaml FILE                       a library file (gs_library_load_file)
 *   --gammabench ROOT THICKNESS NUCLIDES
 *                                     GammaBench signatures (comma list)
 *   --scenario ROOT|embedded ID LAMBDA
 *                                     library LAMBDA of scenario ID (for
 *                                     draw/time: the scenario itself) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "gspec/core.h"
#include "gspec/library.h"
#include "gspec/scenario.h"
#include "gspec/spectra.h"
#include "gspec/synth.h"
#include "util.h"

#define MAX_NUCLIDES 32

typedef struct source
{
  gs_library *own;       /* library owned here (yaml, gammabench) */
  gs_scenario *scen;     /* scenario (owns its libraries) */
  const gs_library *lib; /* the library to export / to give methods */
} source;

static void
usage (void)
{
  fprintf (stderr,
           "usage: gspec_bench_pomp export LIB.npy SOURCE\n"
           "       gspec_bench_pomp draw Y.npy N SEED SOURCE\n"
           "       gspec_bench_pomp time METHOD Y.npy OUT.json SOURCE "
           "[--fpr A] [--param NAME=VALUE]... [--plugins DIR] [--n N]\n"
           "SOURCE: --yaml FILE | --gammabench ROOT THICKNESS NUCLIDES |"
           " --scenario ROOT|embedded ID LAMBDA\n");
}

static int
fail (void)
{
  fprintf (stderr, "gspec_bench_pomp: %s\n", gs_last_error ());
  return 1;
}

/* Parses SOURCE at argv[*i]; advances *i past it.  scen_n > 0 sizes the
 * scenario so that its test split holds at least scen_n spectra; seed is
 * the scenario's seed (its tables; export and time need only its
 * libraries). */
static int
source_open (int argc, char **argv, int *i, size_t scen_n, uint64_t seed,
             source *s)
{
  memset (s, 0, sizeof *s);
  if (*i < argc && strcmp (argv[*i], "--yaml") == 0 && *i + 1 < argc)
    {
      if (gs_library_load_file (argv[*i + 1], &s->own) != GS_OK)
        return -1;
      s->lib = s->own;
      *i += 2;
      return 0;
    }
  if (*i < argc && strcmp (argv[*i], "--gammabench") == 0 && *i + 3 < argc)
    {
      gs_gammabench_opts o;
      const char *names[MAX_NUCLIDES];
      char *list = strdup (argv[*i + 3]), *tok, *save = NULL;
      size_t n = 0;
      long th;
      int rc;
      if (!list || gs__parse_long (argv[*i + 2], &th) != GS_OK || th < 0
          || th > 95)
        {
          free (list);
          gs_error (GS_EINVAL, "bad thickness index '%s'", argv[*i + 2]);
          return -1;
        }
      for (tok = strtok_r (list, ",", &save); tok && n < MAX_NUCLIDES;
           tok = strtok_r (NULL, ",", &save))
        names[n++] = tok;
      gs_gammabench_opts_init (&o, argv[*i + 1]);
      o.nuclides = names;
      o.n_nuclides = n;
      o.thickness_index = (size_t)th;
      rc = gs_library_load_gammabench (&o, &s->own);
      free (list);
      if (rc != GS_OK)
        return -1;
      s->lib = s->own;
      *i += 4;
      return 0;
    }
  if (*i < argc && strcmp (argv[*i], "--scenario") == 0 && *i + 3 < argc)
    {
      gs_scenario_opts o;
      long id, lambda;
      if (gs__parse_long (argv[*i + 2], &id) != GS_OK || id < 1 || id > 3
          || gs__parse_long (argv[*i + 3], &lambda) != GS_OK || lambda < -1)
        {
          gs_error (GS_EINVAL, "bad scenario id or lambda");
          return -1;
        }
      gs_scenario_opts_init (&o, (gs_scenario_id)id);
      if (strcmp (argv[*i + 1], "embedded") == 0)
        o.source = GS_SCENARIO_EMBEDDED;
      else
        o.root = argv[*i + 1];
      /* the test split is the last 20 %: 5 n + 5 rows give it >= n */
      o.n_spectra = scen_n > 0 ? 5 * scen_n + 5 : 10;
      o.seed = seed;
      if (gs_scenario_generate (&o, &s->scen) != GS_OK)
        return -1;
      if (lambda >= 0 && id != 1)
        {
          if (gs_scenario_library (s->scen, (int)lambda, &s->lib) != GS_OK)
            return -1;
        }
      else if (gs_scenario_reference_library (s->scen, &s->lib) != GS_OK)
        return -1;
      *i += 4;
      return 0;
    }
  gs_error (GS_EINVAL, "missing or malformed SOURCE");
  return -1;
}

static void
source_close (source *s)
{
  gs_library_free (s->own);
  gs_scenario_free (s->scen);
}

static int
cmd_export (int argc, char **argv)
{
  source s;
  int i = 3;
  if (argc < 4)
    {
      usage ();
      return 2;
    }
  if (source_open (argc, argv, &i, 0, 1, &s) != 0)
    return fail ();
  if (gs_npy_write_matrix (argv[2], s.lib->signatures, s.lib->n_channels,
                           s.lib->n_components)
      != GS_OK)
    return fail ();
  printf ("exported %s: %zu channels x %zu components\n", argv[2],
          s.lib->n_channels, s.lib->n_components);
  source_close (&s);
  return 0;
}

static int
cmd_draw (int argc, char **argv)
{
  source s;
  long nl, seed;
  size_t n, C, i;
  double *Y;
  char *p;
  int a = 5;
  if (argc < 6 || gs__parse_long (argv[3], &nl) != GS_OK || nl < 1
      || gs__parse_long (argv[4], &seed) != GS_OK)
    {
      usage ();
      return 2;
    }
  n = (size_t)nl;
  if (source_open (argc, argv, &a, n, (uint64_t)seed, &s) != 0)
    return fail ();
  C = s.lib->n_channels;
  Y = malloc (n * C * sizeof (double));
  if (!Y)
    return 1;
  if (s.scen)
    {
      if (s.scen->n[GS_SPLIT_TEST] < n)
        {
          fprintf (stderr, "scenario test split too small\n");
          return 1;
        }
      for (i = 0; i < n; i++)
        if (gs_scenario_spectrum (s.scen, GS_SPLIT_TEST, i, Y + i * C)
            != GS_OK)
          return fail ();
    }
  else
    {
      gs_synth *sy = NULL;
      gs_synth_opts o;
      gs_synth_opts_init (&o);
      o.n_spectra = n;
      o.seed = (uint64_t)seed;
      if (gs_synth_generate (s.lib, &o, &sy) != GS_OK)
        return fail ();
      for (i = 0; i < n; i++)
        gs_synth_spectrum (sy, i, Y + i * C);
      gs_synth_free (sy);
    }
  if (gs_npy_write_matrix (argv[2], Y, n, C) != GS_OK)
    return fail ();
  p = gs__asprintf ("%s.lib.npy", argv[2]);
  if (!p
      || gs_npy_write_matrix (p, s.lib->signatures, C, s.lib->n_components)
             != GS_OK)
    return fail ();
  printf ("drew %zu spectra (%zu channels, %zu components)\n", n, C,
          s.lib->n_components);
  free (p);
  free (Y);
  source_close (&s);
  return 0;
}

static long
find_extra (const gs_method_type *t, const char *name)
{
  size_t j, ne = gs_method_n_extras (t);
  for (j = 0; j < ne; j++)
    if (strcmp (t->extras[j], name) == 0)
      return (long)j;
  return -1;
}

static int
load_plugins (gs_registry *reg, const char *dir)
{
  char *exe, *p;
  if (dir)
    return gs_registry_load_dir (reg, dir);
  exe = gs__exe_dir ();
  if (exe)
    {
      p = gs__asprintf ("%s/../plugins", exe);
      if (p)
        gs_registry_load_dir (reg, p);
      free (p);
      free (exe);
    }
  return gs_registry_load_default (reg);
}

static int
cmd_time (int argc, char **argv)
{
  source s;
  gs_registry *reg;
  const gs_method_type *t;
  void *params, *work = NULL;
  gs_method *m = NULL;
  gs_setup setup;
  gs_result *r;
  double *Y, fpr = 0.01, t0, dt;
  size_t rows, C, K, i, j, ne, nmax = 0;
  const char *plugdir = NULL;
  long jg, jo;
  FILE *f;
  int a = 5;
  if (argc < 6)
    {
      usage ();
      return 2;
    }
  if (gs_npy_read_matrix (argv[3], &Y, &rows, &C) != GS_OK)
    return fail ();
  if (source_open (argc, argv, &a, 1, 1, &s) != 0)
    return fail ();
  reg = gs_registry_alloc ();
  /* options after SOURCE; --plugins first so that --param finds the type */
  for (i = (size_t)a; i + 1 < (size_t)argc; i++)
    if (strcmp (argv[i], "--plugins") == 0)
      plugdir = argv[i + 1];
  load_plugins (reg, plugdir);
  t = gs_registry_find (reg, argv[2]);
  if (!t)
    {
      fprintf (stderr, "gspec_bench_pomp: method %s not found (plugins not "
                       "built?)\n",
               argv[2]);
      return 3;
    }
  params = gs_params_alloc (t);
  for (; a < argc; a++)
    {
      if (strcmp (argv[a], "--fpr") == 0 && a + 1 < argc)
        fpr = atof (argv[++a]);
      else if (strcmp (argv[a], "--plugins") == 0 && a + 1 < argc)
        a++;
      else if (strcmp (argv[a], "--n") == 0 && a + 1 < argc)
        nmax = (size_t)atol (argv[++a]);
      else if (strcmp (argv[a], "--param") == 0 && a + 1 < argc)
        {
          char *kv = strdup (argv[++a]), *eq = kv ? strchr (kv, '=') : NULL;
          if (!eq)
            {
              usage ();
              return 2;
            }
          *eq = 0;
          if (gs_params_set (t, params, kv, eq + 1, "--param") != GS_OK)
            return fail ();
          free (kv);
        }
      else
        {
          usage ();
          return 2;
        }
    }
  if (C != s.lib->n_channels)
    {
      fprintf (stderr, "spectra have %zu channels, the library %zu\n", C,
               s.lib->n_channels);
      return 1;
    }
  if (nmax > 0 && nmax < rows)
    rows = nmax;
  K = s.lib->n_components;
  memset (&setup, 0, sizeof setup);
  setup.struct_size = sizeof setup;
  setup.library = gs_library_as_view (s.lib);
  setup.seed = 1;
  setup.target_fpr = fpr;
  if (gs_method_alloc (t, params, &setup, &m) != GS_OK)
    return fail ();
  if (gs_method_workspace_alloc (m, &work) != GS_OK)
    return fail ();
  ne = gs_method_n_extras (t);
  r = gs_result_alloc (K, ne);
  jg = find_extra (t, "gain_shift");
  jo = find_extra (t, "offset");
  f = fopen (argv[4], "w");
  if (!f)
    {
      fprintf (stderr, "cannot write %s\n", argv[4]);
      return 1;
    }
  /* one untimed call so that lazily built state is not timed */
  if (rows > 0 && gs_method_analyze (m, work, Y, C, r) != GS_OK)
    return fail ();
  fputs ("[", f);
  dt = 0;
  for (i = 0; i < rows; i++)
    {
      int first = 1;
      t0 = gs__now ();
      if (gs_method_analyze (m, work, Y + i * C, C, r) != GS_OK)
        return fail ();
      dt += gs__now () - t0;
      fprintf (f, "%s\n{\"Iden\": [", i ? "," : "");
      for (j = 0; j < K; j++)
        if (r->present[j] == 1 || (j == 0 && r->present[j] != 0))
          {
            /* the background (0) is always in the P-OMP support */
            fprintf (f, "%s%zu", first ? "" : ", ", j);
            first = 0;
          }
      fputs ("], \"a\": [", f);
      for (j = 0; j < K; j++)
        fprintf (f, "%s%.17g", j ? ", " : "",
                 isfinite (r->counts[j]) ? r->counts[j] : 0.0);
      fputs ("]", f);
      if (jg >= 0)
        fprintf (f, ", \"shift\": [%.17g, %.17g]", r->extras[jg],
                 jo >= 0 ? r->extras[jo] : 0.0);
      fputs (", \"extras\": {", f);
      for (j = 0; j < ne; j++)
        {
          fprintf (f, "%s\"%s\": ", j ? ", " : "", t->extras[j]);
          if (isfinite (r->extras[j]))
            fprintf (f, "%.17g", r->extras[j]);
          else
            fputs ("null", f);
        }
      fputs ("}}", f);
    }
  fputs ("\n]\n", f);
  fclose (f);
  printf ("gspec %s (C, 1 thread, %zu spectra): %.4f ms/spectrum\n", argv[2],
          rows, rows ? 1e3 * dt / (double)rows : 0.0);
  printf ("GSPEC_MS %.6f\n", rows ? 1e3 * dt / (double)rows : 0.0);
  gs_result_free (r);
  gs_method_workspace_free (work);
  gs_method_free (m);
  gs_params_free (params);
  gs_registry_free (reg);
  source_close (&s);
  free (Y);
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      usage ();
      return 2;
    }
  gs_core_init ();
  if (strcmp (argv[1], "export") == 0)
    return cmd_export (argc, argv);
  if (strcmp (argv[1], "draw") == 0)
    return cmd_draw (argc, argv);
  if (strcmp (argv[1], "time") == 0)
    return cmd_time (argc, argv);
  usage ();
  return 2;
}
