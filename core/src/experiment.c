#include "experiment.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gspec/status.h"
#include "util.h"

/* ---- Library files ---------------------------------------------------- */

static const gs_yschema library_keys[] = {
  { "source", GS_YS_ENUM, 1, 0, -1, "gammabench|embedded|labelled|inline",
    NULL, NULL,
    "where the signatures come from: GammaBench Geant4 files, the "
    "embedded detector model, class means of labelled sets, or the "
    "numbers themselves (gspec export-library)" },
  { "description", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL, "free text" },
  { "nuclides", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
                         "nuclide name" },
    "nuclide columns, in order (background is column 0)" },
  /* gammabench */
  { "root", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
    "folder holding Simulation_steel_sphere/ (gammabench)" },
  { "max_channels", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_INT, 0, 0, 1024, NULL, NULL, NULL,
                         "max channel" },
    "per-nuclide max channel (gammabench; 0 = no cut)" },
  { "thickness_index", GS_YS_INT, 0, 0, 95, NULL, NULL, NULL,
    "steel thickness index 0..95 (gammabench)" },
  { "gain_shift_percent", GS_YS_INT, 0, -10, 10, NULL, NULL, NULL,
    "gain shift in percent (gammabench drift files)" },
  { "am241_rule", GS_YS_BOOL, 0, 0, -1, NULL, NULL, NULL,
    "Am241 >= 4.4 mm uses the 4.0 mm signature (gammabench)" },
  /* embedded */
  { "channels", GS_YS_INT, 0, 1, 65536, NULL, NULL, NULL,
    "number of channels (embedded)" },
  { "offset_kev", GS_YS_REAL, 0, -1000, 100000, NULL, NULL, NULL,
    "low edge of channel 0 in keV (embedded)" },
  { "kev_per_channel", GS_YS_REAL, 0, 1e-3, 1000, NULL, NULL, NULL,
    "channel width in keV (embedded)" },
  { "fwhm_662", GS_YS_REAL, 0, 1e-3, 0.5, NULL, NULL, NULL,
    "relative FWHM at 662 keV (embedded)" },
  { "fwhm_exponent", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
    "FWHM/E ~ E^-exponent (embedded)" },
  { "steel_mm", GS_YS_REAL, 0, 0, 1000, NULL, NULL, NULL,
    "steel shell thickness in mm (embedded)" },
  { "gain_shift", GS_YS_REAL, 0, -0.5, 0.5, NULL, NULL, NULL,
    "gain shift alpha, E -> E (1 - alpha) (embedded)" },
  /* labelled */
  { "sets", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
                         "labelled set" },
    "labelled sets whose class means are the signatures (labelled)" },
  { "calibration", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_REAL, 0, -1e6, 1e6, NULL, NULL, NULL,
                         "coefficient" },
    "[offset, slope, quad]: the grid, E(ch) = offset + slope ch + quad "
    "ch^2 keV at channel centres (labelled; default gamma_flow's "
    "[-12.0, 8.15, 0.0012])" },
  { "rebin", GS_YS_ENUM, 0, 0, -1, "overlap|linear", NULL, NULL,
    "how the sets reach the grid: count-conserving overlap or gamma_flow's "
    "linear interpolation (labelled; default overlap)" },
  /* inline */
  { "names", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
                         "name" },
    "component names, background first (inline)" },
  { "energy_edges", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_REAL, 0, -1e9, 1e9, NULL, NULL, NULL,
                         "keV" },
    "channels + 1 increasing edges in keV (inline)" },
  { "signatures", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_SEQ, 0, 0, -1, NULL, NULL,
                         &(const gs_yschema){ NULL, GS_YS_REAL, 0, 0, 1e300,
                                              NULL, NULL, NULL, "value" },
                         "one component's values per channel" },
    "one list per component, in the order of 'names' (inline)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema library_schema
    = { "library", GS_YS_MAP, 0, 0, -1, NULL, library_keys, NULL,
        "a spectral library" };

static const char **
string_list (const gs_ynode *seq, size_t *n)
{
  const char **v;
  size_t i;
  *n = seq ? seq->n : 0;
  v = calloc (*n ? *n : 1, sizeof *v);
  if (!v)
    return NULL;
  for (i = 0; i < *n; i++)
    v[i] = seq->items[i]->value;
  return v;
}

static int
resolve_path (const char *base_dir, const char *p, char **out)
{
  *out = (p[0] == '/' || !base_dir) ? gs__strdup (p)
                                    : gs__path_join (base_dir, p);
  return *out ? GS_OK : gs_error (GS_ENOMEM, "out of memory");
}

/* library: {source: labelled, sets, nuclides, calibration, channels,
 * rebin}: class means of labelled sets (gs_library_from_sets). */
static int
load_labelled (const gs_ynode *node, const char *base_dir, const char *where,
               gs_library **out)
{
  gs_labelled_lib_opts o;
  const gs_ynode *n;
  char **paths = NULL;
  const char **names = NULL;
  size_t i, nn = 0;
  long v;
  int rc = GS_OK;
  memset (&o, 0, sizeof o);
  o.calib.offset = -12.0; /* gamma_flow's std_calib */
  o.calib.slope = 8.15;
  o.calib.quad = 0.0012;
  o.n_channels = 256;
  o.mode = GS_REBIN_OVERLAP;
  n = gs_ynode_get (node, "sets");
  if (!n || n->n == 0)
    return gs_error (GS_ECONFIG,
                     "%s: a labelled library needs 'sets', the labelled "
                     "sets whose class means are the signatures (e.g. "
                     "${GSPEC_DATA}/gamma_flow/Am241_simulated)",
                     where);
  if (!gs_ynode_get (node, "nuclides"))
    return gs_error (GS_ECONFIG,
                     "%s: a labelled library needs 'nuclides', the labels "
                     "that become components after the background",
                     where);
  paths = calloc (n->n, sizeof *paths);
  if (!paths)
    return gs_error (GS_ENOMEM, "out of memory");
  for (i = 0; i < n->n && rc == GS_OK; i++)
    rc = resolve_path (base_dir, n->items[i]->value, &paths[i]);
  o.sets = (const char *const *)paths;
  o.n_sets = n->n;
  names = string_list (gs_ynode_get (node, "nuclides"), &nn);
  o.nuclides = names;
  o.n_nuclides = nn;
  if ((n = gs_ynode_get (node, "calibration")) != NULL)
    {
      if (n->n != 3)
        {
          char w2[512];
          gs_ynode_where (n, w2, sizeof w2);
          rc = gs_error (GS_ECONFIG,
                         "%s: 'calibration' must be [offset, slope, quad] "
                         "in keV, got %zu values",
                         w2, n->n);
        }
      else
        {
          gs_ynode_as_double (n->items[0], "offset", -1e6, 1e6,
                              &o.calib.offset);
          gs_ynode_as_double (n->items[1], "slope", -1e6, 1e6,
                              &o.calib.slope);
          gs_ynode_as_double (n->items[2], "quad", -1e6, 1e6, &o.calib.quad);
        }
    }
  if ((n = gs_ynode_get (node, "channels")) != NULL)
    {
      gs_ynode_as_long (n, "channels", 1, 65536, &v);
      o.n_channels = (size_t)v;
    }
  if ((n = gs_ynode_get (node, "rebin")) != NULL)
    o.mode = strcmp (n->value, "linear") == 0 ? GS_REBIN_LINEAR
                                              : GS_REBIN_OVERLAP;
  if (rc == GS_OK && !names)
    rc = gs_error (GS_ENOMEM, "out of memory");
  if (rc == GS_OK)
    {
      rc = gs_library_from_sets (&o, out);
      if (rc != GS_OK)
        gs_error_prefix (rc, "%s: labelled library", where);
    }
  for (i = 0; i < o.n_sets; i++)
    free (paths[i]);
  free (paths);
  free (names);
  return rc;
}

/* library: {source: inline, names, energy_edges, signatures}: the numbers
 * themselves (gs_library_write_inline writes this form). */
static int
load_inline (const gs_ynode *node, const char *where, gs_library **out)
{
  const gs_ynode *names = gs_ynode_get (node, "names");
  const gs_ynode *edges = gs_ynode_get (node, "energy_edges");
  const gs_ynode *sig = gs_ynode_get (node, "signatures");
  gs_library *lib;
  size_t C, K, j, c;
  int rc = GS_OK;
  *out = NULL;
  if (!names || !edges || !sig)
    return gs_error (GS_ECONFIG,
                     "%s: an inline library needs 'names', 'energy_edges' "
                     "and 'signatures' (gspec export-library writes them)",
                     where);
  K = names->n;
  C = edges->n ? edges->n - 1 : 0;
  if (K == 0 || C == 0 || sig->n != K)
    return gs_error (GS_ECONFIG,
                     "%s: inline library with %zu names, %zu energy edges "
                     "and %zu signature lists; give one list per name and "
                     "channels + 1 edges",
                     where, K, edges->n, sig->n);
  lib = gs_library_alloc (C, K);
  if (!lib)
    return GS_ENOMEM;
  for (c = 0; c <= C; c++)
    gs_ynode_as_double (edges->items[c], "energy_edges", -1e9, 1e9,
                        &lib->energy_edges[c]);
  for (j = 0; j < K && rc == GS_OK; j++)
    {
      const gs_ynode *col = sig->items[j];
      rc = gs_library_set_name (lib, j, names->items[j]->value);
      if (rc == GS_OK && col->n != C)
        {
          char w2[512];
          gs_ynode_where (col, w2, sizeof w2);
          rc = gs_error (GS_ECONFIG,
                         "%s: signature of '%s' has %zu values but there "
                         "are %zu channels (energy_edges has %zu)",
                         w2, names->items[j]->value, col->n, C, C + 1);
        }
      for (c = 0; rc == GS_OK && c < C; c++)
        gs_ynode_as_double (col->items[c], "signature", 0, 1e300,
                            &lib->signatures[c * K + j]);
    }
  if (rc == GS_OK)
    rc = gs_library_check (lib);
  if (rc != GS_OK)
    {
      gs_error_prefix (rc, "%s: inline library", where);
      gs_library_free (lib);
      return rc;
    }
  lib->description = gs__strdup ("inline library");
  *out = lib;
  return GS_OK;
}

/* The options of an embedded library node (source: embedded); *names
 * (free it) holds the nuclide list the options point to. */
static void
embedded_opts_of (const gs_ynode *node, gs_embedded_opts *o,
                  const char ***names)
{
  const gs_ynode *n;
  size_t nn = 0;
  long v;
  gs_embedded_opts_init (o);
  *names = NULL;
  if ((n = gs_ynode_get (node, "nuclides")) != NULL)
    {
      *names = string_list (n, &nn);
      o->nuclides = *names;
      o->n_nuclides = nn;
    }
  if ((n = gs_ynode_get (node, "channels")) != NULL)
    {
      gs_ynode_as_long (n, "channels", 1, 65536, &v);
      o->n_channels = (size_t)v;
    }
  if ((n = gs_ynode_get (node, "offset_kev")) != NULL)
    gs_ynode_as_double (n, "offset_kev", -1000, 1e5, &o->offset_kev);
  if ((n = gs_ynode_get (node, "kev_per_channel")) != NULL)
    gs_ynode_as_double (n, "kev_per_channel", 1e-3, 1000,
                        &o->kev_per_channel);
  if ((n = gs_ynode_get (node, "fwhm_662")) != NULL)
    gs_ynode_as_double (n, "fwhm_662", 1e-3, 0.5, &o->fwhm_662);
  if ((n = gs_ynode_get (node, "fwhm_exponent")) != NULL)
    gs_ynode_as_double (n, "fwhm_exponent", 0, 1, &o->fwhm_exponent);
  if ((n = gs_ynode_get (node, "steel_mm")) != NULL)
    gs_ynode_as_double (n, "steel_mm", 0, 1000, &o->steel_mm);
  if ((n = gs_ynode_get (node, "gain_shift")) != NULL)
    gs_ynode_as_double (n, "gain_shift", -0.5, 0.5, &o->gain_shift);
}

int
gs_library_peaks_node (const gs_ynode *node, const char *base_dir,
                       gs_library **lib, gs_photopeak **pk, size_t *n)
{
  const gs_ynode *src = NULL;
  gs_embedded_opts o;
  const char **names = NULL;
  char where[512];
  int rc;
  (void)base_dir;
  if (node && node->kind == GS_YNODE_MAPPING)
    src = gs_ynode_get (node, "source");
  if (!src || strcmp (src->value, "embedded") != 0)
    {
      if (node)
        gs_ynode_where (node, where, sizeof where);
      return gs_error (GS_ECONFIG,
                       "%s: peak-labelled datasets need an inline embedded "
                       "library (library: {source: embedded, nuclides: "
                       "[...]}): its line data give the true peaks",
                       node ? where : "library");
    }
  if ((rc = gs_yaml_check (node, &library_schema, "library")) != GS_OK)
    return rc;
  gs_ynode_where (node, where, sizeof where);
  embedded_opts_of (node, &o, &names);
  rc = gs_library_embedded_peaks (&o, lib, pk, n);
  if (rc != GS_OK)
    gs_error_prefix (rc, "%s: embedded library", where);
  free (names);
  return rc;
}

int
gs_library_load_node (const gs_ynode *node, const char *base_dir,
                      gs_library **out)
{
  const gs_ynode *src, *n;
  char where[512];
  int rc;
  *out = NULL;
  if (node->kind == GS_YNODE_SCALAR)
    {
      char *p;
      rc = resolve_path (base_dir, node->value, &p);
      if (rc != GS_OK)
        return rc;
      rc = gs_library_load_file (p, out);
      if (rc != GS_OK)
        {
          gs_ynode_where (node, where, sizeof where);
          gs_error_prefix (rc, "%s: library", where);
        }
      free (p);
      return rc;
    }
  rc = gs_yaml_check (node, &library_schema, "library");
  if (rc != GS_OK)
    return rc;
  src = gs_ynode_get (node, "source");
  gs_ynode_where (node, where, sizeof where);
  if (strcmp (src->value, "gammabench") == 0)
    {
      gs_gammabench_opts o;
      size_t nn = 0, i;
      const char **names = NULL;
      size_t *maxc = NULL;
      char *root = NULL;
      long v;
      n = gs_ynode_get (node, "root");
      if (!n)
        return gs_error (GS_ECONFIG,
                         "%s: a gammabench library needs 'root' (e.g. "
                         "${GSPEC_DATA}/gammabench)",
                         where);
      rc = resolve_path (base_dir, n->value, &root);
      if (rc != GS_OK)
        return rc;
      gs_gammabench_opts_init (&o, root);
      if ((n = gs_ynode_get (node, "nuclides")) != NULL)
        {
          names = string_list (n, &nn);
          o.nuclides = names;
          o.n_nuclides = nn;
        }
      if ((n = gs_ynode_get (node, "max_channels")) != NULL)
        {
          if (n->n != o.n_nuclides)
            {
              char w2[512];
              gs_ynode_where (n, w2, sizeof w2);
              free (names);
              free (root);
              return gs_error (GS_ECONFIG,
                               "%s: 'max_channels' has %zu values but "
                               "there are %zu nuclides",
                               w2, n->n, o.n_nuclides);
            }
          maxc = calloc (n->n ? n->n : 1, sizeof *maxc);
          for (i = 0; maxc && i < n->n; i++)
            {
              gs_ynode_as_long (n->items[i], "max_channels", 0, 1024, &v);
              maxc[i] = (size_t)v;
            }
          o.max_channels = maxc;
        }
      if ((n = gs_ynode_get (node, "thickness_index")) != NULL)
        {
          gs_ynode_as_long (n, "thickness_index", 0, 95, &v);
          o.thickness_index = (size_t)v;
        }
      if ((n = gs_ynode_get (node, "gain_shift_percent")) != NULL)
        {
          gs_ynode_as_long (n, "gain_shift_percent", -10, 10, &v);
          o.gain_shift_percent = (int)v;
        }
      if ((n = gs_ynode_get (node, "am241_rule")) != NULL)
        gs_ynode_as_bool (n, "am241_rule", &o.apply_am241_rule);
      rc = gs_library_load_gammabench (&o, out);
      if (rc != GS_OK)
        gs_error_prefix (rc, "%s: gammabench library", where);
      free (names);
      free (maxc);
      free (root);
      return rc;
    }
  else if (strcmp (src->value, "labelled") == 0)
    return load_labelled (node, base_dir, where, out);
  else if (strcmp (src->value, "inline") == 0)
    return load_inline (node, where, out);
  else
    {
      gs_embedded_opts o;
      const char **names;
      embedded_opts_of (node, &o, &names);
      rc = gs_library_embedded (&o, out);
      if (rc != GS_OK)
        gs_error_prefix (rc, "%s: embedded library", where);
      free (names);
      return rc;
    }
}

int
gs_library_load_file (const char *path, gs_library **out)
{
  gs_ynode *root = NULL;
  char *dir;
  int rc;
  *out = NULL;
  if (access (path, R_OK) != 0)
    return gs_error (GS_ENOENT,
                     "library file '%s' does not exist or is not readable",
                     path);
  rc = gs_yaml_load_file (path, &root);
  if (rc != GS_OK)
    return rc;
  dir = gs__path_dirname (path);
  rc = gs_library_load_node (root, dir, out);
  free (dir);
  gs_ynode_free (root);
  return rc;
}

/* ---- Experiment configs ----------------------------------------------- */

static const gs_yschema generate_keys[] = {
  { "n", GS_YS_INT, 1, 1, 1e8, NULL, NULL, NULL, "number of spectra" },
  { "max_active", GS_YS_INT, 0, 0, 64, NULL, NULL, NULL,
    "nuclides per spectrum: uniform 0..max_active (default 4)" },
  { "counts_min", GS_YS_REAL, 0, 1, 1e12, NULL, NULL, NULL,
    "lowest total counts (default 200)" },
  { "counts_max", GS_YS_REAL, 0, 1, 1e12, NULL, NULL, NULL,
    "highest total counts (default 1e5)" },
  { "background_min", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
    "lowest background weight (default 0.1)" },
  { "background_max", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
    "highest background weight (default 0.9)" },
  { "seed", GS_YS_INT, 0, 0, 9.2e18, NULL, NULL, NULL,
    "seed of this set (default: derived from the experiment seed)" },
  { "peaks", GS_YS_BOOL, 0, 0, -1, NULL, NULL, NULL,
    "peak-labelled spectra (YOLOSpecNN Table 1; embedded library): gross "
    "counts in [counts_min, counts_max] (default 1e3..1e5), SNR, 1-5 "
    "nuclides, true full-energy peaks" },
  { "snr_min", GS_YS_REAL, 0, 1e-6, 1, NULL, NULL, NULL,
    "peaks: lowest SNR = source / gross counts (default 0.1)" },
  { "snr_max", GS_YS_REAL, 0, 1e-6, 1, NULL, NULL, NULL,
    "peaks: highest SNR (default 1)" },
  { "nuclides_min", GS_YS_INT, 0, 1, 64, NULL, NULL, NULL,
    "peaks: fewest nuclides per spectrum (default 1)" },
  { "nuclides_max", GS_YS_INT, 0, 1, 64, NULL, NULL, NULL,
    "peaks: most nuclides per spectrum (default 5)" },
  { "min_significance", GS_YS_REAL, 0, 0, 1e6, NULL, NULL, NULL,
    "peaks: a true peak has net counts >= this x sqrt(counts in its "
    "region) (default 3)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema dataset_keys[] = {
  { "name", GS_YS_STRING, 1, 0, -1, NULL, NULL, NULL, "dataset name" },
  { "role", GS_YS_ENUM, 0, 0, -1, "test|train|valid", NULL, NULL,
    "what the set is used for (default test)" },
  { "generate", GS_YS_MAP, 0, 0, -1, NULL, generate_keys, NULL,
    "synthetic mixtures drawn from the library" },
  { "path", GS_YS_ANY, 0, 0, -1, NULL, NULL, NULL,
    "a labelled set (NAME.counts.npy + NAME.meta.csv) or a text file, or a "
    "list of labelled sets joined in order; sets with calibration columns "
    "are rebinned onto the library grid" },
  { "group_by", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
    "test set: a meta column (e.g. detector) whose values break the "
    "metrics down" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema method_keys[] = {
  { "id", GS_YS_STRING, 1, 0, -1, NULL, NULL, NULL,
    "method id (see gspec methods)" },
  { "params", GS_YS_ANY, 0, 0, -1, NULL, NULL, NULL,
    "method parameters (see gspec methods --describe ID)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema outputs_keys[] = {
  { "dir", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
    "output folder (default results/<name>)" },
  { "predictions", GS_YS_BOOL, 0, 0, -1, NULL, NULL, NULL,
    "write predictions/<method>.csv (default true)" },
  { "spectra", GS_YS_BOOL, 0, 0, -1, NULL, NULL, NULL,
    "write every dataset as a labelled set spectra/<name>.counts.npy + "
    ".meta.csv (default false)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema scenario_keys[] = {
  { "id", GS_YS_ENUM, 1, 0, -1, "1|2|3", NULL, NULL,
    "1 known signatures, 2 steel deformation, 3 gain shift" },
  { "spectra", GS_YS_INT, 0, 3, 1e8, NULL, NULL, NULL,
    "spectra over the three splits (default 200000)" },
  { "split", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
                         "fraction" },
    "train, validation, test fractions (default [0.64, 0.16, 0.20])" },
  { "source", GS_YS_ENUM, 0, 0, -1, "gammabench|embedded", NULL, NULL,
    "signatures: GammaBench Geant4 data or the embedded model (default "
    "gammabench)" },
  { "root", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
    "the gammabench data folder (source gammabench)" },
  { "seed", GS_YS_INT, 0, 0, 9.2e18, NULL, NULL, NULL,
    "seed of the tables and draws (default: derived from the experiment "
    "seed)" },
  { "test_range", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_REAL, 0, 1, 0, NULL, NULL, NULL,
                         "value" },
    "[lo, hi]: test thickness (mm) or shift (%) drawn from every value in "
    "the range (robustness sets, e.g. [0.001, 1] or [-2, 2])" },
  { "max_active", GS_YS_INT, 0, 0, 64, NULL, NULL, NULL,
    "nuclides per spectrum: uniform 0..max_active (default 4)" },
  { "counts_min", GS_YS_REAL, 0, 1, 1e12, NULL, NULL, NULL,
    "lowest total counts (default 200)" },
  { "counts_max", GS_YS_REAL, 0, 1, 1e12, NULL, NULL, NULL,
    "highest total counts (default 1e5)" },
  { "background_min", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
    "lowest background weight (default 0.1)" },
  { "background_max", GS_YS_REAL, 0, 0, 1, NULL, NULL, NULL,
    "highest background weight (default 0.9)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema calibration_keys[] = {
  { "mode", GS_YS_ENUM, 0, 0, -1, "grid|quantile", NULL, NULL,
    "grid: the spec's threshold grid; quantile: exact order statistics "
    "(default grid)" },
  { "grid", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_REAL, 0, 1, 0, NULL, NULL, NULL,
                         "value" },
    "[from, to, points] (default: the spec's grid for the method)" },
  { "per_component", GS_YS_BOOL, 0, 0, -1, NULL, NULL, NULL,
    "one threshold per component (default false: one common threshold)" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema experiment_keys[] = {
  { "name", GS_YS_STRING, 1, 0, -1, NULL, NULL, NULL, "experiment name" },
  { "description", GS_YS_STRING, 0, 0, -1, NULL, NULL, NULL,
    "free text" },
  { "seed", GS_YS_INT, 1, 0, 9.2e18, NULL, NULL, NULL,
    "seed of every random draw" },
  { "threads", GS_YS_INT, 0, 0, 1024, NULL, NULL, NULL,
    "worker threads (0: one per CPU)" },
  { "target_fpr", GS_YS_REAL, 0, 1e-6, 0.5, NULL, NULL, NULL,
    "false-positive rate per spectrum that identifiers target" },
  { "library", GS_YS_SCALAR_OR_MAP, 0, 0, -1, NULL, library_keys, NULL,
    "library file or inline library (default with a scenario: its known "
    "signatures)" },
  { "scenario", GS_YS_MAP, 0, 0, -1, NULL, scenario_keys, NULL,
    "a GammaBench scenario: train, valid and test sets drawn on demand" },
  { "calibration", GS_YS_MAP, 0, 0, -1, NULL, calibration_keys, NULL,
    "threshold calibration of score-based identifiers" },
  { "datasets", GS_YS_SEQ, 0, 0, -1, NULL, NULL,
    &(const gs_yschema){ NULL, GS_YS_MAP, 0, 0, -1, NULL, dataset_keys,
                         NULL, "dataset" },
    "datasets" },
  { "methods", GS_YS_ANY, 1, 0, -1, NULL, NULL, NULL,
    "a list of {id, params}, or 'all-untrained'" },
  { "outputs", GS_YS_MAP, 0, 0, -1, NULL, outputs_keys, NULL, "outputs" },
  { "rebin", GS_YS_ENUM, 0, 0, -1, "overlap|linear", NULL, NULL,
    "how sets with an energy calibration reach the library grid: "
    "count-conserving overlap (default) or gamma_flow's linear "
    "interpolation" },
  { NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};

static const gs_yschema experiment_schema
    = { "experiment", GS_YS_MAP, 0, 0, -1, NULL, experiment_keys, NULL,
        "an experiment config" };

static const gs_yschema method_schema
    = { "method", GS_YS_MAP, 0, 0, -1, NULL, method_keys, NULL,
        "a method entry" };

static void
fnv1a (unsigned long long *h, const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      *h ^= (unsigned char)s[i];
      *h *= 1099511628211ULL;
    }
}

void
gs_experiment_free (gs_experiment *e)
{
  size_t i;
  if (!e)
    return;
  for (i = 0; i < e->n_datasets; i++)
    {
      size_t j;
      for (j = 0; j < e->datasets[i].n_paths; j++)
        free (e->datasets[i].paths[j]);
      free (e->datasets[i].paths);
    }
  free (e->datasets);
  free (e->methods);
  free (e->scenario_root);
  for (i = 0; i < e->n_overrides; i++)
    free (e->overrides[i]);
  free (e->overrides);
  gs_ynode_free (e->root);
  free (e->text);
  free (e->path);
  free (e->dir);
  free (e->out_dir);
  free (e);
}

static int
parse_calibration (gs_experiment *e)
{
  const gs_ynode *c = gs_ynode_get (e->root, "calibration"), *x;
  char w[512];
  size_t i;
  e->calib_mode = GS_CALIBRATE_GRID;
  e->calibration_node = c;
  if (!c)
    return GS_OK;
  if ((x = gs_ynode_get (c, "mode")) != NULL)
    e->calib_mode = strcmp (x->value, "quantile") == 0 ? GS_CALIBRATE_QUANTILE
                                                       : GS_CALIBRATE_GRID;
  if ((x = gs_ynode_get (c, "per_component")) != NULL)
    gs_ynode_as_bool (x, "per_component", &e->calib_per_component);
  if ((x = gs_ynode_get (c, "grid")) != NULL)
    {
      gs_ynode_where (x, w, sizeof w);
      if (x->n != 3)
        return gs_error (GS_ECONFIG,
                         "%s: 'calibration.grid' must be [from, to, points], "
                         "got %zu values",
                         w, x->n);
      for (i = 0; i < 3; i++)
        gs_ynode_as_double (x->items[i], "calibration.grid", -1e300, 1e300,
                            &e->calib_grid[i]);
      if (!(e->calib_grid[1] > e->calib_grid[0]) || e->calib_grid[2] < 2
          || e->calib_grid[2] > 1e6
          || e->calib_grid[2] != (double)(long)e->calib_grid[2])
        return gs_error (GS_ECONFIG,
                         "%s: 'calibration.grid' needs from < to and an "
                         "integer number of points in [2, 1e6]",
                         w);
      e->calib_has_grid = 1;
    }
  return GS_OK;
}

static int
parse_scenario (gs_experiment *e)
{
  const gs_ynode *s = e->scenario_node, *x;
  gs_scenario_opts *o = &e->scenario;
  char w[512];
  long v;
  int rc;
  gs_ynode_as_long (gs_ynode_get (s, "id"), "scenario.id", 1, 3, &v);
  gs_scenario_opts_init (o, (gs_scenario_id)v);
  e->has_scenario = 1;
  gs_ynode_where (s, w, sizeof w);
  if ((x = gs_ynode_get (s, "spectra")) != NULL)
    {
      gs_ynode_as_long (x, "scenario.spectra", 3, 100000000L, &v);
      o->n_spectra = (size_t)v;
    }
  if ((x = gs_ynode_get (s, "split")) != NULL)
    {
      size_t i;
      double sum = 0;
      char w2[512];
      gs_ynode_where (x, w2, sizeof w2);
      if (x->n != 3)
        return gs_error (GS_ECONFIG,
                         "%s: 'scenario.split' needs 3 fractions (train, "
                         "valid, test), got %zu",
                         w2, x->n);
      for (i = 0; i < 3; i++)
        {
          gs_ynode_as_double (x->items[i], "scenario.split", 0, 1,
                              &o->ratio[i]);
          sum += o->ratio[i];
        }
      if (fabs (sum - 1) > 1e-9 || o->ratio[2] <= 0)
        return gs_error (GS_ECONFIG,
                         "%s: 'scenario.split' fractions must sum to 1 and "
                         "the test fraction be > 0 (got %g + %g + %g)",
                         w2, o->ratio[0], o->ratio[1], o->ratio[2]);
    }
  x = gs_ynode_get (s, "source");
  o->source = (x && strcmp (x->value, "embedded") == 0)
                  ? GS_SCENARIO_EMBEDDED
                  : GS_SCENARIO_GAMMABENCH;
  if ((x = gs_ynode_get (s, "root")) != NULL)
    {
      rc = resolve_path (e->dir, x->value, &e->scenario_root);
      if (rc != GS_OK)
        return rc;
      o->root = e->scenario_root;
    }
  else if (o->source == GS_SCENARIO_GAMMABENCH)
    return gs_error (GS_ECONFIG,
                     "%s: a gammabench scenario needs 'root' (e.g. "
                     "${GSPEC_DATA:-../../shared/data}/gammabench), or use "
                     "'source: embedded'",
                     w);
  if ((x = gs_ynode_get (s, "seed")) != NULL)
    {
      gs_ynode_as_long (x, "scenario.seed", 0, LONG_MAX, &v);
      o->seed = (uint64_t)v;
    }
  else
    o->seed = gs__mix64 (e->seed ^ 0x5ce7a210ULL);
  if ((x = gs_ynode_get (s, "test_range")) != NULL)
    {
      char w2[512];
      gs_ynode_where (x, w2, sizeof w2);
      if (x->n != 2 || o->id == GS_SCENARIO_KNOWN)
        return gs_error (GS_ECONFIG,
                         "%s: 'scenario.test_range' needs [lo, hi] and "
                         "scenario 2 or 3",
                         w2);
      gs_ynode_as_double (x->items[0], "test_range", -1e6, 1e6,
                          &o->test_range[0]);
      gs_ynode_as_double (x->items[1], "test_range", -1e6, 1e6,
                          &o->test_range[1]);
      if (!(o->test_range[0] <= o->test_range[1]))
        return gs_error (GS_ECONFIG, "%s: 'scenario.test_range' needs lo <= "
                                     "hi",
                         w2);
      o->test_range_set = 1;
    }
  if ((x = gs_ynode_get (s, "max_active")) != NULL)
    {
      gs_ynode_as_long (x, "max_active", 0, 64, &v);
      o->sampler.max_active = (int)v;
    }
  if ((x = gs_ynode_get (s, "counts_min")) != NULL)
    gs_ynode_as_double (x, "counts_min", 1, 1e12, &o->sampler.counts_min);
  if ((x = gs_ynode_get (s, "counts_max")) != NULL)
    gs_ynode_as_double (x, "counts_max", 1, 1e12, &o->sampler.counts_max);
  if ((x = gs_ynode_get (s, "background_min")) != NULL)
    gs_ynode_as_double (x, "background_min", 0, 1,
                        &o->sampler.background_min);
  if ((x = gs_ynode_get (s, "background_max")) != NULL)
    gs_ynode_as_double (x, "background_max", 0, 1,
                        &o->sampler.background_max);
  if (o->sampler.counts_min > o->sampler.counts_max
      || o->sampler.background_min > o->sampler.background_max)
    return gs_error (GS_ECONFIG,
                     "%s: scenario ranges need counts_min <= counts_max and "
                     "background_min <= background_max",
                     w);
  return GS_OK;
}

int
gs_experiment_load (const char *path, char *const *overrides,
                    size_t n_overrides, gs_experiment **out)
{
  gs_experiment *e;
  const gs_ynode *n, *m;
  unsigned long long h = 1469598103934665603ULL;
  size_t i;
  long v;
  int rc;
  *out = NULL;
  if (access (path, R_OK) != 0)
    return gs_error (GS_ENOENT,
                     "config file '%s' does not exist or is not readable",
                     path);
  e = calloc (1, sizeof *e);
  if (!e)
    return gs_error (GS_ENOMEM, "out of memory");
  e->path = gs__strdup (path);
  e->dir = gs__path_dirname (path);
  rc = gs__read_file (path, &e->text, NULL);
  if (rc != GS_OK)
    goto fail;
  rc = gs_yaml_load_file (path, &e->root);
  if (rc != GS_OK)
    goto fail;
  e->overrides = calloc (n_overrides ? n_overrides : 1, sizeof (char *));
  if (!e->overrides)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  fnv1a (&h, e->text, strlen (e->text));
  for (i = 0; i < n_overrides; i++)
    {
      rc = gs_yaml_apply_set (e->root, overrides[i]);
      if (rc != GS_OK)
        goto fail;
      e->overrides[i] = gs__strdup (overrides[i]);
      e->n_overrides++;
      fnv1a (&h, "\n--set ", 7);
      fnv1a (&h, overrides[i], strlen (overrides[i]));
    }
  snprintf (e->hash, sizeof e->hash, "%016llx", h);
  rc = gs_yaml_check (e->root, &experiment_schema, "experiment");
  if (rc != GS_OK)
    goto fail;

  e->name = gs_ynode_get (e->root, "name")->value;
  gs_ynode_as_long (gs_ynode_get (e->root, "seed"), "seed", 0, LONG_MAX,
                    &v);
  e->seed = (uint64_t)v;
  e->threads = 0;
  if ((n = gs_ynode_get (e->root, "threads")) != NULL)
    {
      gs_ynode_as_long (n, "threads", 0, 1024, &v);
      e->threads = (int)v;
    }
  e->target_fpr = 0.01;
  if ((n = gs_ynode_get (e->root, "target_fpr")) != NULL)
    gs_ynode_as_double (n, "target_fpr", 1e-6, 0.5, &e->target_fpr);
  e->library = gs_ynode_get (e->root, "library");
  rc = parse_calibration (e);
  if (rc != GS_OK)
    goto fail;
  e->scenario_node = gs_ynode_get (e->root, "scenario");
  n = gs_ynode_get (e->root, "datasets");
  if (e->scenario_node)
    {
      char w[512];
      if (n)
        {
          gs_ynode_where (n, w, sizeof w);
          rc = gs_error (GS_ECONFIG,
                         "%s: give either 'scenario' or 'datasets', not "
                         "both (a scenario defines its train, valid and "
                         "test sets)",
                         w);
          goto fail;
        }
      rc = parse_scenario (e);
      if (rc != GS_OK)
        goto fail;
      goto methods;
    }
  if (!n || !e->library)
    {
      rc = gs_error (GS_ECONFIG,
                     "%s: missing required key '%s' in 'experiment' (give "
                     "'library' and 'datasets', or a 'scenario')",
                     e->path, !e->library ? "library" : "datasets");
      goto fail;
    }
  if (n->n == 0)
    {
      char w[512];
      gs_ynode_where (n, w, sizeof w);
      rc = gs_error (GS_ECONFIG, "%s: 'datasets' is empty; give at least "
                                 "one dataset",
                     w);
      goto fail;
    }
  e->datasets = calloc (n->n, sizeof *e->datasets);
  if (!e->datasets)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  for (i = 0; i < n->n; i++)
    {
      const gs_ynode *d = n->items[i], *g, *p, *r;
      gs_exp_dataset *ds = &e->datasets[e->n_datasets];
      char w[512];
      size_t j;
      gs_ynode_where (d, w, sizeof w);
      ds->name = gs_ynode_get (d, "name")->value;
      for (j = 0; j < e->n_datasets; j++)
        if (strcmp (e->datasets[j].name, ds->name) == 0)
          {
            rc = gs_error (GS_ECONFIG,
                           "%s: dataset name '%s' is used twice; names "
                           "must be unique",
                           w, ds->name);
            goto fail;
          }
      r = gs_ynode_get (d, "role");
      ds->role = !r                              ? GS_ROLE_TEST
                 : strcmp (r->value, "train") == 0 ? GS_ROLE_TRAIN
                 : strcmp (r->value, "valid") == 0 ? GS_ROLE_VALID
                                                   : GS_ROLE_TEST;
      g = gs_ynode_get (d, "generate");
      p = gs_ynode_get (d, "path");
      if ((g != NULL) == (p != NULL))
        {
          rc = gs_error (GS_ECONFIG,
                         "%s: dataset '%s' needs exactly one of "
                         "'generate' or 'path'",
                         w, ds->name);
          goto fail;
        }
      e->n_datasets++;
      if (g)
        {
          const gs_ynode *x;
          ds->generated = 1;
          gs_synth_opts_init (&ds->gen);
          gs_ynode_as_long (gs_ynode_get (g, "n"), "n", 1, 100000000L, &v);
          ds->gen.n_spectra = (size_t)v;
          if ((x = gs_ynode_get (g, "max_active")) != NULL)
            {
              gs_ynode_as_long (x, "max_active", 0, 64, &v);
              ds->gen.max_active = (int)v;
            }
          if ((x = gs_ynode_get (g, "counts_min")) != NULL)
            gs_ynode_as_double (x, "counts_min", 1, 1e12,
                                &ds->gen.counts_min);
          if ((x = gs_ynode_get (g, "counts_max")) != NULL)
            gs_ynode_as_double (x, "counts_max", 1, 1e12,
                                &ds->gen.counts_max);
          if ((x = gs_ynode_get (g, "background_min")) != NULL)
            gs_ynode_as_double (x, "background_min", 0, 1,
                                &ds->gen.background_min);
          if ((x = gs_ynode_get (g, "background_max")) != NULL)
            gs_ynode_as_double (x, "background_max", 0, 1,
                                &ds->gen.background_max);
          if ((x = gs_ynode_get (g, "seed")) != NULL)
            {
              gs_ynode_as_long (x, "seed", 0, LONG_MAX, &v);
              ds->gen.seed = (uint64_t)v;
            }
          else
            ds->gen.seed = gs__mix64 (e->seed ^ (0x1000ULL + i));
          if ((x = gs_ynode_get (g, "peaks")) != NULL)
            gs_ynode_as_bool (x, "peaks", &ds->peaks);
          if (ds->peaks)
            {
              gs_peakset_opts *pk = &ds->pk;
              gs_peakset_opts_init (pk);
              pk->n_spectra = ds->gen.n_spectra;
              pk->seed = ds->gen.seed;
              if (gs_ynode_get (g, "counts_min"))
                pk->counts_min = ds->gen.counts_min;
              if (gs_ynode_get (g, "counts_max"))
                pk->counts_max = ds->gen.counts_max;
              if ((x = gs_ynode_get (g, "snr_min")) != NULL)
                gs_ynode_as_double (x, "snr_min", 1e-6, 1, &pk->snr_min);
              if ((x = gs_ynode_get (g, "snr_max")) != NULL)
                gs_ynode_as_double (x, "snr_max", 1e-6, 1, &pk->snr_max);
              if ((x = gs_ynode_get (g, "nuclides_min")) != NULL)
                {
                  gs_ynode_as_long (x, "nuclides_min", 1, 64, &v);
                  pk->nuclides_min = (int)v;
                }
              if ((x = gs_ynode_get (g, "nuclides_max")) != NULL)
                {
                  gs_ynode_as_long (x, "nuclides_max", 1, 64, &v);
                  pk->nuclides_max = (int)v;
                }
              if ((x = gs_ynode_get (g, "min_significance")) != NULL)
                gs_ynode_as_double (x, "min_significance", 0, 1e6,
                                    &pk->min_significance);
            }
        }
      else
        {
          const gs_ynode *x;
          size_t np = p->kind == GS_YNODE_SEQUENCE ? p->n : 1;
          if (p->kind == GS_YNODE_MAPPING || np == 0)
            {
              gs_ynode_where (p, w, sizeof w);
              rc = gs_error (GS_ECONFIG,
                             "%s: 'path' of dataset '%s' must be a file or "
                             "a non-empty list of labelled sets",
                             w, ds->name);
              goto fail;
            }
          ds->paths = calloc (np, sizeof *ds->paths);
          if (!ds->paths)
            {
              rc = gs_error (GS_ENOMEM, "out of memory");
              goto fail;
            }
          for (j = 0; j < np; j++)
            {
              const gs_ynode *item
                  = p->kind == GS_YNODE_SEQUENCE ? p->items[j] : p;
              if (item->kind != GS_YNODE_SCALAR)
                {
                  gs_ynode_where (item, w, sizeof w);
                  rc = gs_error (GS_ECONFIG,
                                 "%s: every 'path' entry of dataset '%s' "
                                 "must be a file name",
                                 w, ds->name);
                  goto fail;
                }
              rc = resolve_path (e->dir, item->value, &ds->paths[j]);
              if (rc != GS_OK)
                goto fail;
              ds->n_paths++;
            }
          if ((x = gs_ynode_get (d, "group_by")) != NULL)
            ds->group_by = x->value;
        }
    }

methods:
  n = gs_ynode_get (e->root, "methods");
  if (n->kind == GS_YNODE_SCALAR)
    {
      if (strcmp (n->value, "all-untrained") != 0)
        {
          char w[512];
          gs_ynode_where (n, w, sizeof w);
          rc = gs_error (GS_ECONFIG,
                         "%s: 'methods' must be a list of {id, params} or "
                         "the word all-untrained, got '%s'",
                         w, n->value);
          goto fail;
        }
      e->all_untrained = 1;
    }
  else if (n->kind == GS_YNODE_SEQUENCE)
    {
      e->methods = calloc (n->n ? n->n : 1, sizeof *e->methods);
      if (!e->methods)
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto fail;
        }
      for (i = 0; i < n->n; i++)
        {
          char where[64];
          m = n->items[i];
          snprintf (where, sizeof where, "methods[%zu]", i);
          rc = gs_yaml_check (m, &method_schema, where);
          if (rc != GS_OK)
            goto fail;
          e->methods[i].id = gs_ynode_get (m, "id")->value;
          e->methods[i].params = gs_ynode_get (m, "params");
          e->methods[i].node = m;
          if (e->methods[i].params
              && e->methods[i].params->kind != GS_YNODE_MAPPING)
            {
              char w[512];
              gs_ynode_where (e->methods[i].params, w, sizeof w);
              rc = gs_error (GS_ECONFIG,
                             "%s: 'params' of method '%s' must be a "
                             "mapping of name: value",
                             w, e->methods[i].id);
              goto fail;
            }
          e->n_methods++;
        }
    }
  else
    {
      char w[512];
      gs_ynode_where (n, w, sizeof w);
      rc = gs_error (GS_ECONFIG,
                     "%s: 'methods' must be a list of {id, params} or the "
                     "word all-untrained",
                     w);
      goto fail;
    }

  e->rebin_mode = GS_REBIN_OVERLAP;
  if ((n = gs_ynode_get (e->root, "rebin")) != NULL)
    e->rebin_mode = strcmp (n->value, "linear") == 0 ? GS_REBIN_LINEAR
                                                     : GS_REBIN_OVERLAP;
  e->write_predictions = 1;
  if ((n = gs_ynode_get (e->root, "outputs")) != NULL)
    {
      const gs_ynode *x;
      if ((x = gs_ynode_get (n, "dir")) != NULL)
        e->out_dir = gs__strdup (x->value);
      if ((x = gs_ynode_get (n, "predictions")) != NULL)
        gs_ynode_as_bool (x, "predictions", &e->write_predictions);
      if ((x = gs_ynode_get (n, "spectra")) != NULL)
        gs_ynode_as_bool (x, "spectra", &e->write_spectra);
    }
  if (!e->out_dir)
    e->out_dir = gs__asprintf ("results/%s", e->name);
  *out = e;
  return GS_OK;
fail:
  gs_experiment_free (e);
  return rc;
}
