/* GammaBench loader: the Geant4 NaI(Tl) signatures and the measured
 * background of gammabench-spec.md section 1, on the paper's grid of 1024
 * channels of 2 keV (20..2068 keV).
 *
 * Each nuclide folder is listed once per call and the thickness of every
 * file is parsed from its name (STEEL<a>__<b>mm.dat = a.b mm); the sorted
 * values must equal gs_gammabench_thickness_mm exactly.  Only the one file
 * a thickness needs is then read. */
#include "gspec/library.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/status.h"
#include "util.h"

#define GS__GB_N_THICK 96
#define GS__GB_N_CHANNELS 1024
#define GS__GB_SIM_LINES 2998
#define GS__GB_BKG_LINES 2200
#define GS__GB_CUT_LINE 20 /* first kept 1 keV line */
#define GS__GB_AM241_LAST 29 /* Am241: indices >= 30 use this one */
#define GS__GB_MAX_SHIFT 10

#define GS__GB_SIM_DIR "Simulation_steel_sphere"
#define GS__GB_DRIFT_DIR "drift_data"
#define GS__GB_BKG_FILE                                                      \
  "SPS_NaITl_3pouces_Exp_1keVCanal_Max2200keV_20012023A.txt"

const double gs_gammabench_thickness_mm[96] = {
  0.001, 0.01, 0.02, 0.05, 0.07, 0.1,  0.2,  0.3,  0.4,  0.5,  0.6,  0.7,
  0.8,   0.9,  1.0,  1.1,  1.2,  1.3,  1.4,  1.5,  1.6,  1.7,  1.8,  1.9,
  2.0,   2.4,  2.8,  3.2,  3.6,  4.0,  4.4,  4.8,  5.2,  5.5,  5.9,  6.3,
  6.7,   7.1,  7.5,  7.9,  8.3,  8.7,  9.1,  9.5,  9.9,  10.3, 10.7, 11.1,
  11.5,  11.9, 12.3, 12.6, 13.0, 13.4, 13.8, 14.2, 14.6, 15.0, 15.4, 15.8,
  16.2,  16.6, 17.0, 17.4, 17.8, 18.2, 18.6, 19.0, 19.4, 19.7, 20.1, 20.5,
  20.9,  21.3, 21.7, 22.1, 22.5, 22.9, 23.3, 23.7, 24.1, 24.5, 24.9, 25.3,
  25.7,  26.1, 26.5, 26.8, 27.2, 27.6, 28.0, 28.4, 28.8, 29.2, 29.6, 30.0
};

/* The 12-list of spec 1.3 with its max channels; `drift` marks the 9
 * nuclides that have gain-shift files. */
typedef struct gs__gb_nuclide
{
  const char *name;
  size_t max_channel;
  int drift;
} gs__gb_nuclide;

static const gs__gb_nuclide gs__gb_nuclides[] = {
  { "Co60", 800, 1 },  { "Ba133", 250, 1 }, { "Co57", 100, 1 },
  { "Cs137", 400, 1 }, { "Eu152", 900, 1 }, { "Am241", 50, 1 },
  { "Y88", 1024, 0 },  { "Bi207", 800, 0 }, { "I123", 100, 1 },
  { "I131", 500, 1 },  { "Tc99m", 100, 1 }, { "Ga67", 250, 0 },
};

#define GS__GB_N_KNOWN (sizeof gs__gb_nuclides / sizeof gs__gb_nuclides[0])

/* The scenario-1 9-list (spec 1.3), the default of the options. */
static const char *const gs__gb_default_list[] = {
  "Co60", "Ba133", "Co57", "Cs137", "Eu152", "Am241", "I123", "I131", "Tc99m"
};

static const gs__gb_nuclide *
gs__gb_find (const char *name)
{
  size_t i;
  if (!name)
    return NULL;
  for (i = 0; i < GS__GB_N_KNOWN; i++)
    if (strcmp (gs__gb_nuclides[i].name, name) == 0)
      return &gs__gb_nuclides[i];
  return NULL;
}

size_t
gs_gammabench_max_channel (const char *nuclide)
{
  const gs__gb_nuclide *d = gs__gb_find (nuclide);
  return d ? d->max_channel : 0;
}

static int
gs__gb_unknown (const char *name)
{
  return gs_error (GS_EINVAL,
                   "unknown GammaBench nuclide '%s'; known: Co60 Ba133 Co57 "
                   "Cs137 Eu152 Am241 Y88 Bi207 I123 I131 Tc99m Ga67",
                   name ? name : "(null)");
}

/* Reads a text file of exactly `expected` lines, one finite count >= 0 per
 * line, into vals.  Errors name the file and the line. */
static int
gs__gb_read_counts (const char *path, size_t expected, double *vals)
{
  char *data = NULL;
  size_t len = 0, n_lines = 0, line;
  char *p, *end;
  int rc = gs__read_file (path, &data, &len);
  if (rc != GS_OK)
    return rc;
  end = data + len;
  if (memchr (data, '\0', len))
    {
      free (data);
      return gs_error (GS_EFORMAT,
                       "'%s' is not a text file (it contains NUL bytes)",
                       path);
    }
  for (p = data; p < end; p++)
    if (*p == '\n')
      n_lines++;
  if (len > 0 && end[-1] != '\n')
    n_lines++;
  if (n_lines != expected)
    {
      free (data);
      return gs_error (GS_EFORMAT,
                       "'%s' has %zu lines; expected %zu (one count per "
                       "1 keV bin)",
                       path, n_lines, expected);
    }
  for (p = data, line = 0; line < expected; line++)
    {
      char *nl = memchr (p, '\n', (size_t)(end - p));
      double v;
      if (!nl)
        nl = end; /* last line without '\n': data[len] is the NUL */
      *nl = '\0';
      if (gs__parse_double (p, &v) != GS_OK || v < 0)
        {
          rc = gs_error (GS_EFORMAT,
                         "'%s' line %zu: '%.40s' is not a count (expected "
                         "one finite number >= 0 per line)",
                         path, line + 1, p);
          free (data);
          return rc;
        }
      vals[line] = v;
      p = nl + 1;
    }
  free (data);
  return GS_OK;
}

/* Keeps lines 20..2067 and sums pairs: out[j] = raw[20+2j] + raw[21+2j]. */
static void
gs__gb_rebin (const double *raw, double *out)
{
  size_t j;
  for (j = 0; j < GS__GB_N_CHANNELS; j++)
    out[j] = raw[GS__GB_CUT_LINE + 2 * j] + raw[GS__GB_CUT_LINE + 2 * j + 1];
}

/* Parses the thickness in a file name "<prefix><a>__<b>mm.dat" (a, b
 * non-empty digit strings) as the decimal a.b.  Returns 0 when the name
 * does not have that shape. */
static int
gs__gb_parse_thickness (const char *fname, const char *prefix, double *mm)
{
  size_t np = strlen (prefix), n = strlen (fname), k;
  const char *a, *sep, *b, *tail;
  char num[64];
  static const char suffix[] = "mm.dat";
  size_t ns = sizeof suffix - 1;
  if (n <= np + ns || strncmp (fname, prefix, np) != 0
      || strcmp (fname + n - ns, suffix) != 0)
    return 0;
  a = fname + np;
  tail = fname + n - ns;
  sep = strstr (a, "__");
  if (!sep || sep == a || sep + 2 >= tail)
    return 0;
  b = sep + 2;
  for (k = 0; a + k < sep; k++)
    if (a[k] < '0' || a[k] > '9')
      return 0;
  for (k = 0; b + k < tail; k++)
    if (b[k] < '0' || b[k] > '9')
      return 0;
  if ((size_t)(tail - a) >= sizeof num)
    return 0;
  snprintf (num, sizeof num, "%.*s.%.*s", (int)(sep - a), a,
            (int)(tail - b), b);
  return gs__parse_double (num, mm) == GS_OK;
}

typedef struct gs__gb_entry
{
  double mm;
  char *name;
} gs__gb_entry;

static int
gs__gb_entry_cmp (const void *pa, const void *pb)
{
  const gs__gb_entry *a = pa, *b = pb;
  return (a->mm > b->mm) - (a->mm < b->mm);
}

/* Lists `dir` (the folder of one nuclide) and returns the malloc'd name of
 * the file of thickness index `index` in *fname.  Hidden entries are
 * ignored; every other entry must be a GRS_NaITl_<RN>_STEEL<a>__<b>mm.dat
 * file, and the sorted thicknesses must equal the spec list. */
static int
gs__gb_find_file (const char *dir, const char *nuclide, size_t index,
                  char **fname)
{
  DIR *d;
  struct dirent *e;
  gs__gb_entry ent[GS__GB_N_THICK];
  size_t n = 0, i;
  char *prefix = gs__asprintf ("GRS_NaITl_%s_STEEL", nuclide);
  int rc = GS_OK;
  *fname = NULL;
  if (!prefix)
    return gs_error (GS_ENOMEM, "out of memory");
  d = opendir (dir);
  if (!d)
    {
      rc = gs_error (GS_ENOENT,
                     "cannot open GammaBench folder '%s': %s; the root must "
                     "hold " GS__GB_SIM_DIR "/<nuclide>/",
                     dir, strerror (errno));
      free (prefix);
      return rc;
    }
  while ((e = readdir (d)) != NULL)
    {
      double mm;
      if (e->d_name[0] == '.')
        continue;
      if (!gs__gb_parse_thickness (e->d_name, prefix, &mm))
        {
          rc = gs_error (GS_EFORMAT,
                         "unexpected file '%s' in GammaBench folder '%s' "
                         "(expected only %s<a>__<b>mm.dat)",
                         e->d_name, dir, prefix);
          goto done;
        }
      for (i = 0; i < GS__GB_N_THICK; i++)
        if (gs_gammabench_thickness_mm[i] == mm)
          break;
      if (i == GS__GB_N_THICK)
        {
          rc = gs_error (GS_EFORMAT,
                         "GammaBench folder '%s': file '%s' (%g mm) is not "
                         "one of the 96 thicknesses of the spec",
                         dir, e->d_name, mm);
          goto done;
        }
      if (n == GS__GB_N_THICK)
        {
          rc = gs_error (GS_EFORMAT,
                         "GammaBench folder '%s' holds more than 96 "
                         "thickness files (one more: '%s')",
                         dir, e->d_name);
          goto done;
        }
      ent[n].mm = mm;
      ent[n].name = gs__strdup (e->d_name);
      if (!ent[n].name)
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          goto done;
        }
      n++;
    }
  qsort (ent, n, sizeof ent[0], gs__gb_entry_cmp);
  for (i = 1; i < n; i++)
    if (ent[i].mm == ent[i - 1].mm)
      {
        rc = gs_error (GS_EFORMAT,
                       "GammaBench folder '%s': files '%s' and '%s' both "
                       "have thickness %g mm",
                       dir, ent[i - 1].name, ent[i].name, ent[i].mm);
        goto done;
      }
  /* Now the n values are distinct members of the spec list, in order. */
  for (i = 0; i < GS__GB_N_THICK; i++)
    if (i >= n || ent[i].mm != gs_gammabench_thickness_mm[i])
      {
        rc = gs_error (GS_ENOENT,
                       "GammaBench folder '%s' has no file for thickness "
                       "%g mm (index %zu; found %zu of 96 files)",
                       dir, gs_gammabench_thickness_mm[i], i, n);
        goto done;
      }
  *fname = gs__strdup (ent[index].name);
  if (!*fname)
    rc = gs_error (GS_ENOMEM, "out of memory");
done:
  closedir (d);
  for (i = 0; i < n; i++)
    free (ent[i].name);
  free (prefix);
  return rc;
}

/* The path of the file one signature comes from (malloc'd in *path). */
static int
gs__gb_signature_path (const char *root, const char *nuclide,
                       size_t index, int shift, char **path)
{
  char *dir, *fname = NULL;
  int rc;
  *path = NULL;
  if (shift != 0)
    {
      unsigned k = (unsigned)(shift < 0 ? -shift : shift);
      *path = gs__asprintf ("%s/" GS__GB_DRIFT_DIR "/%s/GRS_NaITl_%s_"
                            "STEEL0__001mm_drift.%s%udat",
                            root, nuclide, nuclide, shift < 0 ? "neg_" : "",
                            k);
      return *path ? GS_OK : gs_error (GS_ENOMEM, "out of memory");
    }
  dir = gs__asprintf ("%s/" GS__GB_SIM_DIR "/%s", root, nuclide);
  if (!dir)
    return gs_error (GS_ENOMEM, "out of memory");
  rc = gs__gb_find_file (dir, nuclide, index, &fname);
  if (rc == GS_OK)
    {
      *path = gs__path_join (dir, fname);
      if (!*path)
        rc = gs_error (GS_ENOMEM, "out of memory");
    }
  free (fname);
  free (dir);
  return rc;
}

int
gs_gammabench_read_signature (const char *root, const char *nuclide,
                              size_t thickness_index,
                              int gain_shift_percent, size_t max_channel,
                              int apply_am241_rule, double *out)
{
  const gs__gb_nuclide *nd = gs__gb_find (nuclide);
  double *raw;
  char *path = NULL;
  size_t j;
  int rc;
  if (!root || !*root || !out)
    return gs_error (GS_EINVAL, "GammaBench: no root folder or no output "
                                "buffer");
  if (!nd)
    return gs__gb_unknown (nuclide);
  if (thickness_index >= GS__GB_N_THICK)
    return gs_error (GS_ERANGE,
                     "GammaBench thickness index %zu is out of range 0..95",
                     thickness_index);
  if (max_channel > GS__GB_N_CHANNELS)
    return gs_error (GS_ERANGE,
                     "GammaBench max channel %zu for %s is out of range "
                     "0..1024 (0 = no cut)",
                     max_channel, nuclide);
  if (gain_shift_percent < -GS__GB_MAX_SHIFT
      || gain_shift_percent > GS__GB_MAX_SHIFT)
    return gs_error (GS_ERANGE,
                     "GammaBench gain shift %d %% is out of range -10..10",
                     gain_shift_percent);
  if (gain_shift_percent != 0 && (thickness_index != 0 || !nd->drift))
    return gs_error (GS_EINVAL,
                     "GammaBench gain-shift files exist only for thickness "
                     "index 0 (0.001 mm) and Co60 Ba133 Co57 Cs137 Eu152 "
                     "Am241 I123 I131 Tc99m (asked: %s, index %zu, shift "
                     "%d %%)",
                     nuclide, thickness_index, gain_shift_percent);
  if (apply_am241_rule && gain_shift_percent == 0
      && strcmp (nd->name, "Am241") == 0
      && thickness_index > GS__GB_AM241_LAST)
    thickness_index = GS__GB_AM241_LAST;
  rc = gs__gb_signature_path (root, nd->name, thickness_index,
                              gain_shift_percent, &path);
  if (rc != GS_OK)
    return rc;
  raw = malloc (GS__GB_SIM_LINES * sizeof *raw);
  if (!raw)
    {
      free (path);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  rc = gs__gb_read_counts (path, GS__GB_SIM_LINES, raw);
  if (rc == GS_OK)
    {
      gs__gb_rebin (raw, out);
      if (max_channel > 0)
        for (j = max_channel; j < GS__GB_N_CHANNELS; j++)
          out[j] = 0;
    }
  free (raw);
  free (path);
  return rc;
}

int
gs_gammabench_read_background (const char *root, double *out)
{
  double raw[GS__GB_BKG_LINES], lo;
  char *path;
  size_t j;
  int rc;
  if (!root || !*root || !out)
    return gs_error (GS_EINVAL, "GammaBench: no root folder or no output "
                                "buffer");
  path = gs__path_join (root, GS__GB_BKG_FILE);
  if (!path)
    return gs_error (GS_ENOMEM, "out of memory");
  rc = gs__gb_read_counts (path, GS__GB_BKG_LINES, raw);
  free (path);
  if (rc == GS_ENOENT)
    return gs_error_prefix (rc, "GammaBench root '%s' has no measured "
                                "background", root);
  if (rc != GS_OK)
    return rc;
  gs__gb_rebin (raw, out);
  /* Spec 1.4: both first channels become 0.1 * min(B[2:]), even when they
   * are not zero. */
  lo = out[2];
  for (j = 3; j < GS__GB_N_CHANNELS; j++)
    if (out[j] < lo)
      lo = out[j];
  out[0] = out[1] = 0.1 * lo;
  return GS_OK;
}

void
gs_gammabench_opts_init (gs_gammabench_opts *opts, const char *root)
{
  memset (opts, 0, sizeof *opts);
  opts->root = root;
  opts->nuclides = gs__gb_default_list;
  opts->n_nuclides = sizeof gs__gb_default_list / sizeof gs__gb_default_list[0];
  opts->max_channels = NULL;
  opts->thickness_index = 0;
  opts->gain_shift_percent = 0;
  opts->apply_am241_rule = 1;
}

/* Builds the library.  opts->max_channels, when given, holds n_nuclides
 * values in the order of opts->nuclides.  With a gain shift the nuclide
 * columns come from drift_data/ while column 0 stays the unshifted
 * measured background: shifting it needs the particle-histogram operator
 * of spec 1.6, which this loader does not apply.  On error *out is NULL and
 * nothing is left allocated. */
int
gs_library_load_gammabench (const gs_gammabench_opts *opts, gs_library **out)
{
  gs_library *lib = NULL;
  double *col = NULL;
  size_t i, j, k, nc;
  int rc;
  if (out)
    *out = NULL;
  if (!opts || !out || !opts->root || !*opts->root)
    return gs_error (GS_EINVAL, "GammaBench: options with a root folder and "
                                "an output pointer are required");
  if (opts->n_nuclides == 0 || !opts->nuclides)
    return gs_error (GS_EINVAL, "GammaBench: the nuclide list is empty");
  for (k = 0; k < opts->n_nuclides; k++)
    {
      if (!gs__gb_find (opts->nuclides[k]))
        return gs__gb_unknown (opts->nuclides[k]);
      for (i = 0; i < k; i++)
        if (strcmp (opts->nuclides[i], opts->nuclides[k]) == 0)
          return gs_error (GS_EINVAL,
                           "GammaBench: nuclide '%s' is listed twice "
                           "(positions %zu and %zu)",
                           opts->nuclides[k], i, k);
    }
  nc = opts->n_nuclides + 1;
  lib = gs_library_alloc (GS__GB_N_CHANNELS, nc);
  col = malloc (GS__GB_N_CHANNELS * sizeof *col);
  if (!lib || !col)
    {
      rc = lib ? gs_error (GS_ENOMEM, "out of memory") : GS_ENOMEM;
      goto fail;
    }
  rc = gs_library_set_linear_grid (lib, 20.0, 2.0);
  if (rc == GS_OK)
    rc = gs_library_set_name (lib, 0, "background");
  if (rc == GS_OK)
    rc = gs_gammabench_read_background (opts->root, col);
  if (rc != GS_OK)
    goto fail;
  for (j = 0; j < GS__GB_N_CHANNELS; j++)
    lib->signatures[j * nc] = col[j];
  for (k = 0; k < opts->n_nuclides; k++)
    {
      const char *nm = opts->nuclides[k];
      size_t maxch = opts->max_channels ? opts->max_channels[k]
                                        : gs__gb_find (nm)->max_channel;
      rc = gs_gammabench_read_signature (opts->root, nm,
                                         opts->thickness_index,
                                         opts->gain_shift_percent, maxch,
                                         opts->apply_am241_rule, col);
      if (rc == GS_OK)
        rc = gs_library_set_name (lib, k + 1, nm);
      if (rc != GS_OK)
        goto fail;
      for (j = 0; j < GS__GB_N_CHANNELS; j++)
        lib->signatures[j * nc + k + 1] = col[j];
    }
  rc = gs_library_normalise (lib);
  if (rc != GS_OK)
    goto fail;
  lib->description = gs__asprintf (
      "GammaBench Geant4 NaI(Tl), thickness %g mm, shift %d %%%s",
      gs_gammabench_thickness_mm[opts->thickness_index],
      opts->gain_shift_percent,
      opts->gain_shift_percent ? " (background not shifted)" : "");
  if (!lib->description)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  free (col);
  *out = lib;
  return GS_OK;
fail:
  free (col);
  gs_library_free (lib);
  return rc;
}
