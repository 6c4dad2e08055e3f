#include "gspec/library.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

gs_library *
gs_library_alloc (size_t n_channels, size_t n_components)
{
  gs_library *lib;
  if (n_channels == 0 || n_components == 0)
    {
      gs_error (GS_EINVAL, "a library needs at least one channel and one "
                           "component (got %zu x %zu)",
                n_channels, n_components);
      return NULL;
    }
  if (n_channels > ((size_t)1 << 40) / n_components)
    {
      gs_error (GS_EINVAL, "library of %zu x %zu is too large", n_channels,
                n_components);
      return NULL;
    }
  lib = calloc (1, sizeof *lib);
  if (!lib)
    goto nomem;
  lib->n_channels = n_channels;
  lib->n_components = n_components;
  lib->signatures = calloc (n_channels * n_components, sizeof (double));
  lib->names = calloc (n_components, sizeof (char *));
  lib->energy_edges = calloc (n_channels + 1, sizeof (double));
  if (!lib->signatures || !lib->names || !lib->energy_edges)
    goto nomem;
  lib->view.struct_size = (uint32_t)sizeof lib->view;
  lib->view.n_channels = n_channels;
  lib->view.n_components = n_components;
  lib->view.signatures = lib->signatures;
  lib->view.names = (const char *const *)lib->names;
  lib->view.energy_edges = lib->energy_edges;
  return lib;
nomem:
  gs_library_free (lib);
  gs_error (GS_ENOMEM, "out of memory allocating a %zu x %zu library",
            n_channels, n_components);
  return NULL;
}

void
gs_library_free (gs_library *lib)
{
  size_t i;
  if (!lib)
    return;
  if (lib->names)
    for (i = 0; i < lib->n_components; i++)
      free (lib->names[i]);
  free (lib->names);
  free (lib->signatures);
  free (lib->energy_edges);
  free (lib->description);
  free (lib);
}

int
gs_library_set_name (gs_library *lib, size_t i, const char *name)
{
  char *copy;
  if (i >= lib->n_components || !name || !*name)
    return gs_error (GS_EINVAL, "invalid component name or index %zu", i);
  copy = gs__strdup (name);
  if (!copy)
    return gs_error (GS_ENOMEM, "out of memory");
  free (lib->names[i]);
  lib->names[i] = copy;
  return GS_OK;
}

int
gs_library_set_linear_grid (gs_library *lib, double offset_kev,
                            double kev_per_channel)
{
  size_t k;
  if (!(kev_per_channel > 0) || !isfinite (offset_kev))
    return gs_error (GS_EINVAL,
                     "energy grid needs a positive channel width (got %g "
                     "keV) and a finite offset",
                     kev_per_channel);
  for (k = 0; k <= lib->n_channels; k++)
    lib->energy_edges[k] = offset_kev + (double)k * kev_per_channel;
  return GS_OK;
}

int
gs_library_check (const gs_library *lib)
{
  size_t i, j, k;
  if (!lib)
    return gs_error (GS_EINVAL, "no library");
  for (j = 0; j < lib->n_components; j++)
    {
      double sum = 0;
      const char *nm = lib->names[j] ? lib->names[j] : "?";
      if (!lib->names[j] || !*lib->names[j])
        return gs_error (GS_EBADDATA, "library component %zu has no name",
                         j);
      for (k = 0; k < j; k++)
        if (strcmp (lib->names[k], lib->names[j]) == 0)
          return gs_error (GS_EBADDATA,
                           "library components %zu and %zu are both named "
                           "'%s'; names must be distinct",
                           k, j, nm);
      for (i = 0; i < lib->n_channels; i++)
        {
          double v = lib->signatures[i * lib->n_components + j];
          if (!isfinite (v) || v < 0)
            return gs_error (GS_EBADDATA,
                             "library component '%s' has an invalid value "
                             "%g at channel %zu (must be finite and >= 0)",
                             nm, v, i);
          sum += v;
        }
      if (fabs (sum - 1.0) > 1e-9)
        return gs_error (GS_EBADDATA,
                         "library component '%s' sums to %.12g, not 1; "
                         "normalise the signatures",
                         nm, sum);
    }
  for (i = 0; i < lib->n_channels; i++)
    if (!(lib->energy_edges[i + 1] > lib->energy_edges[i]))
      return gs_error (GS_EBADDATA,
                       "library energy edges are not increasing at channel "
                       "%zu (%g, %g keV)",
                       i, lib->energy_edges[i], lib->energy_edges[i + 1]);
  return GS_OK;
}

int
gs_library_normalise (gs_library *lib)
{
  size_t i, j;
  for (j = 0; j < lib->n_components; j++)
    {
      double sum = 0;
      for (i = 0; i < lib->n_channels; i++)
        sum += lib->signatures[i * lib->n_components + j];
      if (!(sum > 0) || !isfinite (sum))
        return gs_error (GS_EBADDATA,
                         "library component '%s' (column %zu) sums to %g; "
                         "a signature needs positive counts",
                         lib->names[j] ? lib->names[j] : "?", j, sum);
      for (i = 0; i < lib->n_channels; i++)
        lib->signatures[i * lib->n_components + j] /= sum;
    }
  return GS_OK;
}

long
gs_library_find (const gs_library *lib, const char *name)
{
  size_t j;
  for (j = 0; j < lib->n_components; j++)
    if (lib->names[j] && strcmp (lib->names[j], name) == 0)
      return (long)j;
  return -1;
}

const gs_library_view *
gs_library_as_view (const gs_library *lib)
{
  return &lib->view;
}
