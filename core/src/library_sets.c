/* Libraries and measured sets: quadratic grids, putting a set onto a
 * library's grid, libraries learnt from labelled sets (gamma_flow's
 * supervised loadings) and self-contained library files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gspec/library.h"
#include "gspec/status.h"
#include "util.h"

int
gs_library_grid_calib (const gs_library *lib, gs_calib *cal)
{
  const double *e;
  double span;
  gs_calib c;
  size_t n, k;
  if (!lib || !cal)
    return gs_error (GS_EINVAL, "grid calibration: NULL library");
  e = lib->energy_edges;
  n = lib->n_channels;
  span = fabs (e[n] - e[0]);
  /* E(x) = a + b x + q x^2 with e_k = E(k - 1/2): b = e1 - e0, 2q the
   * second difference, a = (e0 + e1)/2 - q/4. */
  c.quad = n >= 2 ? 0.5 * (e[2] - 2.0 * e[1] + e[0]) : 0.0;
  c.slope = e[1] - e[0];
  c.offset = 0.5 * (e[0] + e[1]) - 0.25 * c.quad;
  for (k = 0; k <= n; k++)
    if (fabs (gs_calib_energy (&c, (double)k - 0.5) - e[k]) > 1e-9 * span)
      return gs_error (GS_EINVAL,
                       "the library grid is not a quadratic calibration of "
                       "the channel index (edge %zu is %.9g keV, the "
                       "quadratic through the first three edges gives "
                       "%.9g); spectra with calibrations cannot be rebinned "
                       "onto it",
                       k, e[k], gs_calib_energy (&c, (double)k - 0.5));
  *cal = c;
  return GS_OK;
}

int
gs_library_set_calib_grid (gs_library *lib, const gs_calib *cal)
{
  size_t k;
  int rc = gs_calib_check (cal, lib->n_channels);
  if (rc != GS_OK)
    return rc;
  for (k = 0; k <= lib->n_channels; k++)
    lib->energy_edges[k] = gs_calib_energy (cal, (double)k - 0.5);
  return GS_OK;
}

int
gs_spectra_to_library_grid (gs_spectra *s, const gs_library *lib,
                            gs_rebin_mode mode, gs_rebin_report *report)
{
  gs_calib to;
  size_t i;
  int same = 1, rc;
  const char *where = s->source ? s->source : "spectra";
  if (report)
    memset (report, 0, sizeof *report);
  if (!s->cal_offset || !s->cal_slope)
    {
      if (s->n_channels != lib->n_channels)
        return gs_error (GS_EBADLEN,
                         "'%s' has %zu channels but the library has %zu, and "
                         "no energy calibration to rebin with; give the meta "
                         "file cal_offset_keV, cal_slope_keV (and "
                         "cal_quad_keV) columns or use a library on the "
                         "set's grid",
                         where, s->n_channels, lib->n_channels);
      return GS_OK;
    }
  if ((rc = gs_library_grid_calib (lib, &to)) != GS_OK)
    return gs_error_prefix (rc, "'%s'", where);
  if (s->n_channels != lib->n_channels)
    same = 0;
  for (i = 0; same && i < s->n_spectra; i++)
    same = s->cal_offset[i] == to.offset && s->cal_slope[i] == to.slope
           && (s->cal_quad ? s->cal_quad[i] : 0.0) == to.quad;
  if (same)
    return GS_OK;
  {
    /* A spectrum whose counts all leave the grid would reach a method as
     * "all zero": say why instead. */
    size_t n = s->n_spectra, C = s->n_channels, r, c;
    double *before = malloc ((n ? n : 1) * 3 * sizeof *before);
    if (!before)
      return gs_error (GS_ENOMEM, "out of memory");
    for (r = 0; r < n; r++)
      {
        gs_calib from;
        from.offset = s->cal_offset[r];
        from.slope = s->cal_slope[r];
        from.quad = s->cal_quad ? s->cal_quad[r] : 0.0;
        for (before[3 * r] = 0, c = 0; c < C; c++)
          before[3 * r] += s->counts[r * C + c];
        before[3 * r + 1] = gs_calib_energy (&from, -0.5);
        before[3 * r + 2] = gs_calib_energy (&from, (double)C - 0.5);
      }
    rc = gs_spectra_rebin (s, &to, lib->n_channels, mode, report);
    for (r = 0; rc == GS_OK && r < n; r++)
      {
        double after = 0;
        for (c = 0; c < lib->n_channels; c++)
          after += s->counts[r * lib->n_channels + c];
        if (before[3 * r] > 0 && !(after > 0))
          {
            rc = gs_error (GS_EBADDATA,
                           "'%s', spectrum %zu: its %.6g counts lie outside "
                           "the library grid (%.6g..%.6g keV) after "
                           "rebinning from its calibration (channels %zu "
                           "span %.6g..%.6g keV); use a library that covers "
                           "the spectrum's energies",
                           where, r, before[3 * r], lib->energy_edges[0],
                           lib->energy_edges[lib->n_channels], C,
                           before[3 * r + 1], before[3 * r + 2]);
          }
      }
    free (before);
    return rc;
  }
}

/* The component index of a label that names exactly one component, or
 * -1 (several labels, an unknown name, an empty label). */
static long
single_label (const char *label, const gs_library *lib)
{
  if (!label || !*label || strchr (label, '+'))
    return -1;
  return gs_library_find (lib, label);
}

int
gs_library_from_sets (const gs_labelled_lib_opts *o, gs_library **out)
{
  gs_library *lib;
  size_t *n_rows = NULL, K, i, j, c;
  int rc = GS_OK;
  *out = NULL;
  if (!o || !o->sets || o->n_sets == 0)
    return gs_error (GS_EINVAL, "a labelled library needs at least one set "
                                "(library 'sets')");
  K = o->n_nuclides + 1;
  lib = gs_library_alloc (o->n_channels, K);
  if (!lib)
    return GS_ENOMEM;
  if ((rc = gs_library_set_calib_grid (lib, &o->calib)) != GS_OK)
    goto fail;
  if ((rc = gs_library_set_name (lib, 0, "background")) != GS_OK)
    goto fail;
  for (j = 0; j < o->n_nuclides; j++)
    {
      if (strcmp (o->nuclides[j], "background") == 0)
        {
          rc = gs_error (GS_ECONFIG, "'background' is component 0 of every "
                                     "library; do not list it in "
                                     "'nuclides'");
          goto fail;
        }
      if ((rc = gs_library_set_name (lib, j + 1, o->nuclides[j])) != GS_OK)
        goto fail;
    }
  n_rows = calloc (K, sizeof *n_rows);
  if (!n_rows)
    {
      rc = gs_error (GS_ENOMEM, "out of memory");
      goto fail;
    }
  for (i = 0; i < o->n_sets; i++)
    {
      gs_spectra *s = NULL;
      size_t r;
      if ((rc = gs_spectra_read_labelled (o->sets[i], &s)) != GS_OK)
        goto fail;
      if (!s->labels)
        {
          rc = gs_error (GS_EBADDATA,
                         "'%s' has no labels (NAME.meta.csv); a labelled "
                         "library learns from labelled sets",
                         o->sets[i]);
          gs_spectra_free (s);
          goto fail;
        }
      rc = gs_spectra_to_library_grid (s, lib, o->mode, NULL);
      if (rc != GS_OK)
        {
          gs_spectra_free (s);
          goto fail;
        }
      for (r = 0; r < s->n_spectra; r++)
        {
          long k = single_label (s->labels[r], lib);
          if (k < 0)
            continue;
          n_rows[k]++;
          for (c = 0; c < o->n_channels; c++)
            lib->signatures[c * K + (size_t)k]
                += s->counts[r * o->n_channels + c];
        }
      gs_spectra_free (s);
    }
  for (j = 0; j < K; j++)
    if (n_rows[j] == 0)
      {
        rc = gs_error (GS_EBADDATA,
                       "no spectrum of the library's sets is labelled "
                       "exactly '%s'; add a set with such spectra (e.g. "
                       "%s_simulated) or drop '%s' from 'nuclides'",
                       lib->names[j], lib->names[j], lib->names[j]);
        goto fail;
      }
  if ((rc = gs_library_normalise (lib)) != GS_OK)
    goto fail;
  lib->description
      = gs__asprintf ("class means of %zu labelled sets (%zu background "
                      "spectra, ...), %zu channels",
                      o->n_sets, n_rows[0], o->n_channels);
  free (n_rows);
  if ((rc = gs_library_check (lib)) != GS_OK)
    {
      gs_library_free (lib);
      return rc;
    }
  *out = lib;
  return GS_OK;
fail:
  free (n_rows);
  gs_library_free (lib);
  return rc;
}

static void
write_numbers (FILE *f, const double *v, size_t n, size_t stride)
{
  size_t i;
  fputc ('[', f);
  for (i = 0; i < n; i++)
    fprintf (f, "%s%.17g", i ? (i % 8 ? ", " : ",\n      ") : "",
             v[i * stride]);
  fputc (']', f);
}

int
gs_library_write_inline (const gs_library *lib, const char *path)
{
  char *tmp;
  FILE *f;
  size_t j;
  int rc = GS_OK;
  if ((rc = gs_library_check (lib)) != GS_OK)
    return rc;
  tmp = gs__asprintf ("%s.tmp.%ld", path, (long)getpid ());
  if (!tmp)
    return gs_error (GS_ENOMEM, "out of memory");
  f = fopen (tmp, "w");
  if (!f)
    {
      rc = gs_error (GS_EIO, "cannot write library '%s'", path);
      free (tmp);
      return rc;
    }
  fprintf (f,
           "# gspec library: %zu channels x %zu components, written "
           "by gspec %s.\n# Columns sum to 1; component 0 is the "
           "background.\nsource: inline\n",
           lib->n_channels, lib->n_components, GSPEC_VERSION);
  fputs ("description: \"", f);
  for (j = 0; lib->description && lib->description[j]; j++)
    if (lib->description[j] != '"' && lib->description[j] != '\\'
        && lib->description[j] != '\n')
      fputc (lib->description[j], f);
  fputs ("\"\nnames: [", f);
  for (j = 0; j < lib->n_components; j++)
    fprintf (f, "%s\"%s\"", j ? ", " : "", lib->names[j]);
  fputs ("]\nenergy_edges: ", f);
  write_numbers (f, lib->energy_edges, lib->n_channels + 1, 1);
  fputs ("\nsignatures:\n", f);
  for (j = 0; j < lib->n_components; j++)
    {
      fputs ("  - ", f);
      write_numbers (f, lib->signatures + j, lib->n_channels,
                     lib->n_components);
      fputc ('\n', f);
    }
  if (ferror (f))
    rc = gs_error (GS_EIO, "cannot write library '%s'", path);
  if (fclose (f) != 0 && rc == GS_OK)
    rc = gs_error (GS_EIO, "cannot write library '%s'", path);
  if (rc == GS_OK && rename (tmp, path) != 0)
    rc = gs_error (GS_EIO, "cannot rename library onto '%s'", path);
  if (rc != GS_OK)
    remove (tmp);
  free (tmp);
  return rc;
}
