/* Method instances and results: the host side of the method vtable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "util.h"

struct gs_method
{
  const gs_method_type *type;
  void *state;
  void *params;
  int alive;          /* alloc succeeded */
  size_t n_channels;  /* the library's channel count (0: no library) */
};

size_t
gs_method_n_extras (const gs_method_type *t)
{
  size_t n = 0;
  if (t->extras)
    while (t->extras[n])
      n++;
  return n;
}

int
gs_method_alloc (const gs_method_type *t, const void *params,
                 const gs_setup *setup, gs_method **out)
{
  gs_method *m;
  int rc;
  *out = NULL;
  if ((t->flags & GS_METHOD_NEEDS_LIBRARY) && (!setup || !setup->library))
    return gs_error (GS_EINVAL,
                     "method '%s' needs a spectral library (give "
                     "--library or a config 'library:')",
                     t->id);
  if (setup && setup->library)
    {
      const gs_library_view *l = setup->library;
      if (l->n_channels == 0 || l->n_components == 0 || !l->signatures)
        return gs_error (GS_EINVAL, "method '%s': empty library", t->id);
    }
  m = calloc (1, sizeof *m);
  if (!m)
    return gs_error (GS_ENOMEM, "out of memory");
  m->type = t;
  if (setup && setup->library)
    m->n_channels = setup->library->n_channels;
  m->state = calloc (1, t->state_size);
  m->params = malloc (t->params_size ? t->params_size : 1);
  if (!m->state || !m->params)
    {
      gs_method_free (m);
      return gs_error (GS_ENOMEM, "out of memory allocating '%s'", t->id);
    }
  if (params)
    memcpy (m->params, params, t->params_size);
  else
    {
      void *def = gs_params_alloc (t);
      if (!def)
        {
          gs_method_free (m);
          return GS_ENOMEM;
        }
      memcpy (m->params, def, t->params_size);
      gs_params_free (def);
    }
  gs_error_clear ();
  rc = t->alloc (m->state, m->params, setup);
  if (rc != GS_OK)
    {
      if (!gs_last_error ()[0])
        gs_error (rc, "%s", gs_strerror (rc));
      gs_error_prefix (rc, "method '%s' alloc", t->id);
      t->free (m->state);
      m->alive = 0;
      free (m->state);
      m->state = NULL;
      gs_method_free (m);
      return rc;
    }
  m->alive = 1;
  *out = m;
  return GS_OK;
}

void
gs_method_free (gs_method *m)
{
  if (!m)
    return;
  if (m->state && m->alive)
    m->type->free (m->state);
  free (m->state);
  free (m->params);
  free (m);
}

const gs_method_type *
gs_method_type_of (const gs_method *m)
{
  return m->type;
}

const void *
gs_method_params (const gs_method *m)
{
  return m->params;
}

static int
wrap (const gs_method *m, int rc, const char *what)
{
  if (rc == GS_OK)
    return GS_OK;
  if (!gs_last_error ()[0])
    gs_error (rc, "%s", gs_strerror (rc));
  return gs_error_prefix (rc, "method '%s' %s", m->type->id, what);
}

int
gs_method_train (gs_method *m, const gs_dataset *train,
                 const gs_dataset *valid)
{
  if (!m->type->train)
    return gs_error (GS_EUNSUPPORTED, "method '%s' needs no training",
                     m->type->id);
  if (!train || train->n_spectra == 0)
    return gs_error (GS_EINVAL, "method '%s': empty training set",
                     m->type->id);
  gs_error_clear ();
  return wrap (m, m->type->train (m->state, train, valid), "train");
}

int
gs_method_save (const gs_method *m, FILE *out)
{
  if (!m->type->save)
    return gs_error (GS_EUNSUPPORTED, "method '%s' has no model to save",
                     m->type->id);
  gs_error_clear ();
  return wrap (m, m->type->save (m->state, out), "save");
}

int
gs_method_signatures (const gs_method *m, size_t K, double *out)
{
  int (*sig) (const void *, double *) = GS_METHOD_SIGNATURES (m->type);
  size_t C = m->n_channels, c, k;
  int rc;
  if (!sig)
    return gs_error (GS_EUNSUPPORTED,
                     "method '%s' learns no signatures of its own (only "
                     "methods with the ABI 1.2 signatures callback, e.g. "
                     "ml.gammaflow, can be exported or denoise)",
                     m->type->id);
  gs_error_clear ();
  rc = wrap (m, sig (m->state, out), "signatures");
  if (rc != GS_OK)
    return rc;
  for (k = 0; k < K; k++)
    {
      double sum = 0.0;
      for (c = 0; c < C; c++)
        {
          double v = out[c * K + k];
          if (!isfinite (v) || v < 0.0)
            return gs_error (GS_EPLUGIN,
                             "method '%s': learnt signature %zu has %g at "
                             "channel %zu (must be finite and >= 0)",
                             m->type->id, k, v, c);
          sum += v;
        }
      if (fabs (sum - 1.0) > 1e-9)
        return gs_error (GS_EPLUGIN,
                         "method '%s': learnt signature %zu sums to %.12g, "
                         "not 1",
                         m->type->id, k, sum);
    }
  return GS_OK;
}

int
gs_method_load (gs_method *m, FILE *in)
{
  if (!m->type->load)
    return gs_error (GS_EUNSUPPORTED, "method '%s' cannot load a model",
                     m->type->id);
  gs_error_clear ();
  return wrap (m, m->type->load (m->state, in), "load");
}

int
gs_method_workspace_alloc (const gs_method *m, void **work)
{
  size_t n;
  *work = NULL;
  if (!m->type->workspace_size)
    return GS_OK;
  n = m->type->workspace_size (m->state);
  if (n == 0)
    return GS_OK;
  *work = calloc (1, n);
  if (!*work)
    return gs_error (GS_ENOMEM,
                     "out of memory allocating a %zu-byte workspace for "
                     "'%s'",
                     n, m->type->id);
  return GS_OK;
}

void
gs_method_workspace_free (void *work)
{
  free (work);
}

int
gs_method_analyze (const gs_method *m, void *work, const double *y,
                   size_t n_channels, gs_result *res)
{
  size_t i;
  double total = 0;
  void *own = NULL;
  int rc;
  if (!y || n_channels == 0)
    return gs_error (GS_EBADDATA, "method '%s': empty spectrum",
                     m->type->id);
  if (m->n_channels && n_channels != m->n_channels)
    return gs_error (GS_EBADLEN,
                     "method '%s': the spectrum has %zu channels but the "
                     "library has %zu; rebin the spectrum to the library's "
                     "grid",
                     m->type->id, n_channels, m->n_channels);
  for (i = 0; i < n_channels; i++)
    {
      if (!isfinite (y[i]))
        return gs_error (GS_EBADDATA,
                         "method '%s': channel %zu is not a finite number; "
                         "fix or drop this spectrum",
                         m->type->id, i);
      if (y[i] < 0)
        return gs_error (GS_EBADDATA,
                         "method '%s': channel %zu holds a negative count "
                         "(%g); counts must be >= 0",
                         m->type->id, i, y[i]);
      total += y[i];
    }
  if (!(total > 0))
    return gs_error (GS_EBADDATA,
                     "method '%s': the spectrum is all zero; there is "
                     "nothing to analyse",
                     m->type->id);
  gs_result_reset (res);
  if (!work && m->type->workspace_size)
    {
      rc = gs_method_workspace_alloc (m, &own);
      if (rc != GS_OK)
        return rc;
      work = own;
    }
  gs_error_clear ();
  rc = m->type->analyze (m->state, work, y, n_channels, res);
  gs_method_workspace_free (own);
  return wrap (m, rc, "analyze");
}

gs_result *
gs_result_alloc (size_t n_components, size_t n_extras)
{
  gs_result *r = calloc (1, sizeof *r);
  if (!r)
    goto nomem;
  r->struct_size = (uint32_t)sizeof *r;
  r->n_components = n_components;
  r->n_extras = n_extras;
  r->present = calloc (n_components ? n_components : 1, sizeof (int));
  r->score = calloc (n_components ? n_components : 1, sizeof (double));
  r->counts = calloc (n_components ? n_components : 1, sizeof (double));
  r->std = calloc (n_components ? n_components : 1, sizeof (double));
  r->extras = calloc (n_extras ? n_extras : 1, sizeof (double));
  if (!r->present || !r->score || !r->counts || !r->std || !r->extras)
    goto nomem;
  gs_result_reset (r);
  return r;
nomem:
  gs_result_free (r);
  gs_error (GS_ENOMEM, "out of memory allocating a result");
  return NULL;
}

void
gs_result_free (gs_result *r)
{
  if (!r)
    return;
  free (r->present);
  free (r->score);
  free (r->counts);
  free (r->std);
  free (r->extras);
  free (r->peaks);
  free (r);
}

void
gs_result_reset (gs_result *r)
{
  size_t i;
  for (i = 0; i < r->n_components; i++)
    {
      r->present[i] = -1;
      r->score[i] = NAN;
      r->counts[i] = NAN;
      r->std[i] = NAN;
    }
  for (i = 0; i < r->n_extras; i++)
    r->extras[i] = NAN;
  r->n_peaks = 0;
}
