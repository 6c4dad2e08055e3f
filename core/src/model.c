/* Model files.
 *
 * Layout (all text lines end with '\n'):
 *   gspec-model 1
 *   method <id>
 *   plugin-version <version>
 *   param <name> <value>            (one per parameter, value to end of line)
 *   library <n_channels> <n_components>
 *   component <index> <name>        (n_components lines)
 *   setup <seed> <target_fpr>       (optional; default 0 0.01)
 *   threshold <index> <value>       (optional, calibrated score methods;
 *                                    every component, inf = not evaluated)
 *   end
 * then, binary little-endian float64: the n_channels + 1 energy edges and
 * the n_channels x n_components signatures, then the method's payload as
 * written by its save callback. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "util.h"

#define GS__MODEL_MAGIC "gspec-model 1"

int
gs_model_save (const char *path, const gs_method *m, const gs_library *lib,
               const gs_model_info *info)
{
  const gs_method_type *t = gs_method_type_of (m);
  const gs_param_spec *p;
  char *tmp = gs__asprintf ("%s.tmp.%ld", path, (long)getpid ());
  FILE *f;
  size_t j;
  int rc;
  char v[GS_PARAM_STRING_MAX + 8];
  if (!tmp)
    return gs_error (GS_ENOMEM, "out of memory");
  f = fopen (tmp, "wb");
  if (!f)
    {
      rc = gs_error (GS_EIO, "cannot write model '%s'", tmp);
      free (tmp);
      return rc;
    }
  fprintf (f, "%s\nmethod %s\n", GS__MODEL_MAGIC, t->id);
  for (p = t->params; p && p->name; p++)
    {
      gs_params_format (p, gs_method_params (m), v, sizeof v);
      fprintf (f, "param %s %s\n", p->name, v);
    }
  fprintf (f, "library %zu %zu\n", lib->n_channels, lib->n_components);
  for (j = 0; j < lib->n_components; j++)
    fprintf (f, "component %zu %s\n", j, lib->names[j]);
  if (info)
    {
      fprintf (f, "setup %llu %.17g\n", info->seed, info->target_fpr);
      for (j = 0; info->thresholds && j < lib->n_components; j++)
        fprintf (f, "threshold %zu %.17g\n", j, info->thresholds[j]);
    }
  fprintf (f, "end\n");
  fwrite (lib->energy_edges, sizeof (double), lib->n_channels + 1, f);
  fwrite (lib->signatures, sizeof (double),
          lib->n_channels * lib->n_components, f);
  /* A method without training (a calibrated score method) has no
   * payload. */
  rc = t->save ? gs_method_save (m, f) : GS_OK;
  if (fclose (f) != 0 && rc == GS_OK)
    rc = gs_error (GS_EIO, "cannot write model '%s'", path);
  if (rc == GS_OK && rename (tmp, path) != 0)
    rc = gs_error (GS_EIO, "cannot rename model onto '%s'", path);
  if (rc != GS_OK)
    remove (tmp);
  free (tmp);
  return rc;
}

static int
read_line (FILE *f, char *buf, size_t size, const char *path, int lineno)
{
  size_t n;
  if (!fgets (buf, (int)size, f))
    return gs_error (GS_EFORMAT, "model '%s': truncated header at line %d",
                     path, lineno);
  n = strlen (buf);
  if (n == 0 || buf[n - 1] != '\n')
    return gs_error (GS_EFORMAT, "model '%s': line %d is too long or "
                                 "unterminated",
                     path, lineno);
  buf[n - 1] = '\0';
  return GS_OK;
}

int
gs_model_load (const char *path, const gs_registry *reg, gs_method **mout,
               gs_library **libout, gs_model_info *info)
{
  double *thr = NULL, target = 0.01;
  unsigned long long seed = 0;
  FILE *f = fopen (path, "rb");
  char line[1024];
  const gs_method_type *t = NULL;
  void *params = NULL;
  gs_library *lib = NULL;
  gs_method *m = NULL;
  gs_setup setup;
  int lineno = 1, rc;
  long nch = 0, ncomp = 0;
  *mout = NULL;
  *libout = NULL;
  if (!f)
    return gs_error (GS_ENOENT, "cannot open model '%s'", path);
  if ((rc = read_line (f, line, sizeof line, path, lineno++)) != GS_OK)
    goto fail;
  if (strcmp (line, GS__MODEL_MAGIC) != 0)
    {
      rc = gs_error (GS_EFORMAT,
                     "'%s' is not a gspec model file (first line '%.40s')",
                     path, line);
      goto fail;
    }
  if ((rc = read_line (f, line, sizeof line, path, lineno++)) != GS_OK)
    goto fail;
  if (strncmp (line, "method ", 7) != 0)
    {
      rc = gs_error (GS_EFORMAT, "model '%s' line 2: expected 'method ID'",
                     path);
      goto fail;
    }
  t = gs_registry_find (reg, line + 7);
  if (!t)
    {
      rc = gs_error (GS_ENOENT,
                     "model '%s' was made by method '%s', which is not "
                     "registered; check GSPEC_PLUGIN_PATH",
                     path, line + 7);
      goto fail;
    }
  params = gs_params_alloc (t);
  if (!params)
    {
      rc = GS_ENOMEM;
      goto fail;
    }
  for (;;)
    {
      if ((rc = read_line (f, line, sizeof line, path, lineno)) != GS_OK)
        goto fail;
      if (strncmp (line, "param ", 6) == 0)
        {
          char *name = line + 6, *sp = strchr (name, ' ');
          char where[64];
          if (!sp)
            {
              rc = gs_error (GS_EFORMAT, "model '%s' line %d: bad param "
                                         "line",
                             path, lineno);
              goto fail;
            }
          *sp = '\0';
          snprintf (where, sizeof where, "model line %d", lineno);
          if ((rc = gs_params_set (t, params, name, sp + 1, where))
              != GS_OK)
            goto fail;
        }
      else if (strncmp (line, "library ", 8) == 0)
        {
          char *end;
          nch = strtol (line + 8, &end, 10);
          ncomp = strtol (end, &end, 10);
          if (nch <= 0 || ncomp <= 0 || nch > 1000000 || ncomp > 100000
              || *end)
            {
              rc = gs_error (GS_EFORMAT, "model '%s' line %d: bad library "
                                         "size",
                             path, lineno);
              goto fail;
            }
          lib = gs_library_alloc ((size_t)nch, (size_t)ncomp);
          if (!lib)
            {
              rc = GS_ENOMEM;
              goto fail;
            }
        }
      else if (strncmp (line, "component ", 10) == 0 && lib)
        {
          char *end;
          long idx = strtol (line + 10, &end, 10);
          if (idx < 0 || idx >= ncomp || *end != ' '
              || gs_library_set_name (lib, (size_t)idx, end + 1) != GS_OK)
            {
              rc = gs_error (GS_EFORMAT, "model '%s' line %d: bad "
                                         "component line",
                             path, lineno);
              goto fail;
            }
        }
      else if (strncmp (line, "setup ", 6) == 0)
        {
          char *end;
          seed = strtoull (line + 6, &end, 10);
          target = strtod (end, &end);
          if (*end || !(target > 0 && target < 1))
            {
              rc = gs_error (GS_EFORMAT, "model '%s' line %d: bad setup "
                                         "line",
                             path, lineno);
              goto fail;
            }
        }
      else if (strncmp (line, "threshold ", 10) == 0 && lib)
        {
          char *end;
          long idx = strtol (line + 10, &end, 10);
          double v = strtod (end, &end);
          if (!thr)
            thr = malloc ((size_t)ncomp * sizeof (double));
          if (!thr || idx < 0 || idx >= ncomp || *end || isnan (v))
            {
              rc = gs_error (GS_EFORMAT, "model '%s' line %d: bad "
                                         "threshold line",
                             path, lineno);
              goto fail;
            }
          thr[idx] = v;
        }
      else if (strcmp (line, "end") == 0)
        break;
      else
        {
          rc = gs_error (GS_EFORMAT, "model '%s' line %d: unexpected '%.40s'",
                         path, lineno, line);
          goto fail;
        }
      lineno++;
    }
  if (!lib)
    {
      rc = gs_error (GS_EFORMAT, "model '%s' has no library section", path);
      goto fail;
    }
  if (fread (lib->energy_edges, sizeof (double), (size_t)nch + 1, f)
          != (size_t)nch + 1
      || fread (lib->signatures, sizeof (double), (size_t)(nch * ncomp), f)
             != (size_t)(nch * ncomp))
    {
      rc = gs_error (GS_EFORMAT, "model '%s': truncated library data",
                     path);
      goto fail;
    }
  if ((rc = gs_library_check (lib)) != GS_OK)
    {
      gs_error_prefix (rc, "model '%s'", path);
      goto fail;
    }
  memset (&setup, 0, sizeof setup);
  setup.struct_size = (uint32_t)sizeof setup;
  setup.library = gs_library_as_view (lib);
  setup.target_fpr = target;
  setup.seed = seed;
  if ((rc = gs_method_alloc (t, params, &setup, &m)) != GS_OK)
    goto fail;
  if (t->load && (rc = gs_method_load (m, f)) != GS_OK)
    {
      gs_error_prefix (rc, "model '%s'", path);
      goto fail;
    }
  fclose (f);
  gs_params_free (params);
  *mout = m;
  *libout = lib;
  if (info)
    {
      info->seed = seed;
      info->target_fpr = target;
      info->thresholds = thr;
    }
  else
    free (thr);
  return GS_OK;
fail:
  free (thr);
  fclose (f);
  gs_params_free (params);
  gs_method_free (m);
  gs_library_free (lib);
  return rc;
}
