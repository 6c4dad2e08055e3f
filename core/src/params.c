/* Declarative parameter tables: defaults, parsing, range checks, output. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gspec/core.h"
#include "util.h"

static const gs_param_spec *
find_param (const gs_method_type *t, const char *name)
{
  const gs_param_spec *p;
  for (p = t->params; p && p->name; p++)
    if (strcmp (p->name, name) == 0)
      return p;
  return NULL;
}

/* Copies choice number k of "a|b|c" into buf; returns 0 when k is out of
 * range. */
static int
choice_at (const char *choices, size_t k, char *buf, size_t size)
{
  const char *s = choices;
  size_t i = 0;
  while (s && *s)
    {
      const char *bar = strchr (s, '|');
      size_t len = bar ? (size_t)(bar - s) : strlen (s);
      if (i == k)
        {
          if (len >= size)
            len = size - 1;
          memcpy (buf, s, len);
          buf[len] = '\0';
          return 1;
        }
      i++;
      s = bar ? bar + 1 : NULL;
    }
  return 0;
}

void *
gs_params_alloc (const gs_method_type *t)
{
  const gs_param_spec *p;
  char *block = calloc (1, t->params_size ? t->params_size : 1);
  if (!block)
    {
      gs_error (GS_ENOMEM, "out of memory");
      return NULL;
    }
  for (p = t->params; p && p->name; p++)
    {
      void *field = block + p->offset;
      int iv = (int)p->def;
      switch (p->type)
        {
        case GS_PARAM_INT:
        case GS_PARAM_BOOL:
        case GS_PARAM_ENUM:
          memcpy (field, &iv, sizeof iv);
          break;
        case GS_PARAM_REAL:
          memcpy (field, &p->def, sizeof p->def);
          break;
        case GS_PARAM_STRING:
          if (p->choices)
            memcpy (field, p->choices, strlen (p->choices) + 1);
          break;
        }
    }
  return block;
}

void
gs_params_free (void *params)
{
  free (params);
}

static void
list_names (const gs_method_type *t, gs__buf *b)
{
  const gs_param_spec *p;
  if (!t->params || !t->params[0].name)
    {
      gs__buf_puts (b, "(none: this method has no parameters)");
      return;
    }
  for (p = t->params; p->name; p++)
    {
      if (p != t->params)
        gs__buf_puts (b, ", ");
      gs__buf_puts (b, p->name);
    }
}

int
gs_params_set (const gs_method_type *t, void *params, const char *name,
               const char *value, const char *where)
{
  const gs_param_spec *p = find_param (t, name);
  char *field;
  const char *w = where ? where : "parameter";
  if (!p)
    {
      gs__buf b;
      int rc;
      gs__buf_init (&b);
      list_names (t, &b);
      rc = gs_error (GS_ECONFIG,
                     "%s: unknown parameter '%s' for method '%s'; valid "
                     "parameters: %s",
                     w, name, t->id, b.data ? b.data : "");
      gs__buf_fini (&b);
      return rc;
    }
  field = (char *)params + p->offset;
  switch (p->type)
    {
    case GS_PARAM_INT:
      {
        long v;
        int iv;
        if (gs__parse_long (value, &v) != GS_OK || v < (long)p->min
            || v > (long)p->max)
          return gs_error (GS_ECONFIG,
                           "%s: parameter '%s' of '%s' must be an integer "
                           "in [%ld, %ld], got '%s'",
                           w, name, t->id, (long)p->min, (long)p->max,
                           value);
        iv = (int)v;
        memcpy (field, &iv, sizeof iv);
        return GS_OK;
      }
    case GS_PARAM_REAL:
      {
        double v;
        if (gs__parse_double (value, &v) != GS_OK || v < p->min
            || v > p->max)
          return gs_error (GS_ECONFIG,
                           "%s: parameter '%s' of '%s' must be a number in "
                           "[%g, %g], got '%s'",
                           w, name, t->id, p->min, p->max, value);
        memcpy (field, &v, sizeof v);
        return GS_OK;
      }
    case GS_PARAM_BOOL:
      {
        int v;
        if (gs__parse_bool (value, &v) != GS_OK)
          return gs_error (GS_ECONFIG,
                           "%s: parameter '%s' of '%s' must be true or "
                           "false, got '%s'",
                           w, name, t->id, value);
        memcpy (field, &v, sizeof v);
        return GS_OK;
      }
    case GS_PARAM_ENUM:
      {
        char c[128];
        int k;
        for (k = 0; choice_at (p->choices, (size_t)k, c, sizeof c); k++)
          if (strcmp (c, value) == 0)
            {
              memcpy (field, &k, sizeof k);
              return GS_OK;
            }
        return gs_error (GS_ECONFIG,
                         "%s: parameter '%s' of '%s' must be one of %s "
                         "(separated by |), got '%s'",
                         w, name, t->id, p->choices, value);
      }
    case GS_PARAM_STRING:
      if (strlen (value) >= GS_PARAM_STRING_MAX)
        return gs_error (GS_ECONFIG,
                         "%s: parameter '%s' of '%s' is longer than %d "
                         "characters",
                         w, name, t->id, GS_PARAM_STRING_MAX - 1);
      memcpy (field, value, strlen (value) + 1);
      return GS_OK;
    }
  return gs_error (GS_EPLUGIN, "parameter '%s' has an unknown type", name);
}

void
gs_params_format (const gs_param_spec *p, const void *params, char *buf,
                  size_t size)
{
  const char *field = (const char *)params + p->offset;
  int iv;
  double dv;
  switch (p->type)
    {
    case GS_PARAM_INT:
      memcpy (&iv, field, sizeof iv);
      snprintf (buf, size, "%d", iv);
      break;
    case GS_PARAM_BOOL:
      memcpy (&iv, field, sizeof iv);
      snprintf (buf, size, "%s", iv ? "true" : "false");
      break;
    case GS_PARAM_ENUM:
      memcpy (&iv, field, sizeof iv);
      if (!choice_at (p->choices, (size_t)iv, buf, size))
        snprintf (buf, size, "?");
      break;
    case GS_PARAM_REAL:
      memcpy (&dv, field, sizeof dv);
      snprintf (buf, size, "%.10g", dv);
      break;
    case GS_PARAM_STRING:
      snprintf (buf, size, "%s", field);
      break;
    }
}

void
gs_params_to_json (const gs_method_type *t, const void *params,
                   struct gs__buf *out)
{
  const gs_param_spec *p;
  char v[GS_PARAM_STRING_MAX + 8];
  gs__buf_puts (out, "{");
  for (p = t->params; p && p->name; p++)
    {
      if (p != t->params)
        gs__buf_puts (out, ", ");
      gs__buf_json_string (out, p->name);
      gs__buf_puts (out, ": ");
      gs_params_format (p, params, v, sizeof v);
      if (p->type == GS_PARAM_INT || p->type == GS_PARAM_REAL)
        gs__buf_puts (out, v);
      else if (p->type == GS_PARAM_BOOL)
        gs__buf_puts (out, v);
      else
        gs__buf_json_string (out, v);
    }
  gs__buf_puts (out, "}");
}

static const char *
type_name (gs_param_type t)
{
  switch (t)
    {
    case GS_PARAM_INT:
      return "int";
    case GS_PARAM_REAL:
      return "real";
    case GS_PARAM_BOOL:
      return "bool";
    case GS_PARAM_ENUM:
      return "enum";
    case GS_PARAM_STRING:
      return "string";
    }
  return "?";
}

void
gs_params_describe (const gs_method_type *t, FILE *out)
{
  const gs_param_spec *p;
  void *defaults = gs_params_alloc (t);
  char v[GS_PARAM_STRING_MAX + 8];
  if (!t->params || !t->params[0].name)
    {
      fprintf (out, "  (no parameters)\n");
      gs_params_free (defaults);
      return;
    }
  fprintf (out, "  %-18s %-7s %-14s %-26s %s\n", "name", "type", "default",
           "range / choices", "help");
  for (p = t->params; p->name; p++)
    {
      char range[160];
      if (defaults)
        gs_params_format (p, defaults, v, sizeof v);
      else
        v[0] = '\0';
      switch (p->type)
        {
        case GS_PARAM_INT:
          snprintf (range, sizeof range, "[%ld, %ld]", (long)p->min,
                    (long)p->max);
          break;
        case GS_PARAM_REAL:
          snprintf (range, sizeof range, "[%g, %g]", p->min, p->max);
          break;
        case GS_PARAM_BOOL:
          snprintf (range, sizeof range, "true|false");
          break;
        case GS_PARAM_ENUM:
          snprintf (range, sizeof range, "%s", p->choices);
          break;
        case GS_PARAM_STRING:
          snprintf (range, sizeof range, "text");
          break;
        }
      fprintf (out, "  %-18s %-7s %-14s %-26s %s\n", p->name,
               type_name (p->type), v, range, p->help);
    }
  gs_params_free (defaults);
}
