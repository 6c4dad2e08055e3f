/* Plugin loader and method registry. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gspec/core.h"
#include "util.h"

typedef struct gs__plugin
{
  void *handle;
  char *path; /* real path */
  gs_plugin_info info; /* copy, zero-extended to the host's size */
} gs__plugin;

typedef struct gs__entry
{
  const gs_method_type *type;
  size_t plugin; /* index into plugins */
} gs__entry;

struct gs_registry
{
  gs__plugin *plugins;
  size_t n_plugins;
  gs__entry *entries;
  size_t n_entries;
  char **failures;
  size_t n_failures;
};

gs_registry *
gs_registry_alloc (void)
{
  gs_registry *reg = calloc (1, sizeof *reg);
  if (!reg)
    gs_error (GS_ENOMEM, "out of memory");
  return reg;
}

void
gs_registry_free (gs_registry *reg)
{
  size_t i;
  if (!reg)
    return;
  for (i = 0; i < reg->n_plugins; i++)
    {
      /* Method types live in the plugin: callers free their method
       * instances before the registry. */
      dlclose (reg->plugins[i].handle);
      free (reg->plugins[i].path);
    }
  for (i = 0; i < reg->n_failures; i++)
    free (reg->failures[i]);
  free (reg->failures);
  free (reg->plugins);
  free (reg->entries);
  free (reg);
}

static int
valid_id (const char *id)
{
  const char *p = id;
  const char *dot;
  if (!id || !*id)
    return 0;
  dot = strchr (id, '.');
  if (!dot || dot == id || !dot[1] || strchr (dot + 1, '.'))
    return 0;
  for (; *p; p++)
    if (!(islower ((unsigned char)*p) || isdigit ((unsigned char)*p)
          || *p == '.' || *p == '-' || *p == '_'))
      return 0;
  return 1;
}

static int
valid_param_name (const char *s)
{
  if (!s || !*s)
    return 0;
  for (; *s; s++)
    if (!(islower ((unsigned char)*s) || isdigit ((unsigned char)*s)
          || *s == '_'))
      return 0;
  return 1;
}

static size_t
param_storage (gs_param_type t)
{
  switch (t)
    {
    case GS_PARAM_INT:
    case GS_PARAM_BOOL:
    case GS_PARAM_ENUM:
      return sizeof (int);
    case GS_PARAM_REAL:
      return sizeof (double);
    case GS_PARAM_STRING:
      return GS_PARAM_STRING_MAX;
    }
  return 0;
}

static size_t
n_choices (const char *choices)
{
  size_t n = 1;
  if (!choices || !*choices)
    return 0;
  for (; *choices; choices++)
    if (*choices == '|')
      n++;
  return n;
}

int
gs_method_type_check (const gs_method_type *t)
{
  const gs_param_spec *p;
  size_t i, j;
  if (!t)
    return gs_error (GS_EPLUGIN, "NULL method type");
  if (t->struct_size < offsetof (gs_method_type, analyze)
                           + sizeof (t->analyze))
    return gs_error (GS_EPLUGIN,
                     "method type struct_size %u is smaller than ABI 1.0's "
                     "%zu",
                     t->struct_size,
                     offsetof (gs_method_type, analyze) + sizeof (t->analyze));
  if (!valid_id (t->id))
    return gs_error (GS_EPLUGIN,
                     "method id '%s' is not of the form family.name "
                     "(lower-case letters, digits, '-' and '_')",
                     t->id ? t->id : "(null)");
  if (!t->summary || !*t->summary)
    return gs_error (GS_EPLUGIN, "method '%s' has no summary", t->id);
  if (!t->kinds
      || (t->kinds
          & ~(GS_KIND_IDENTIFY | GS_KIND_QUANTIFY | GS_KIND_VARIABILITY
              | GS_KIND_PEAKS)))
    return gs_error (GS_EPLUGIN, "method '%s' has invalid kinds 0x%x",
                     t->id, t->kinds);
  if (!t->alloc || !t->free || !t->analyze)
    return gs_error (GS_EPLUGIN,
                     "method '%s' lacks a required callback (alloc, free "
                     "and analyze are required)",
                     t->id);
  if (t->state_size == 0)
    return gs_error (GS_EPLUGIN, "method '%s' has state_size 0", t->id);
  if (t->train && (!t->save || !t->load))
    return gs_error (GS_EPLUGIN,
                     "method '%s' can train but lacks save/load", t->id);
  if ((t->save == NULL) != (t->load == NULL))
    return gs_error (GS_EPLUGIN,
                     "method '%s' must provide both save and load, or "
                     "neither",
                     t->id);
  for (p = t->params, i = 0; p && p->name; p++, i++)
    {
      size_t sz = param_storage (p->type);
      if (!valid_param_name (p->name))
        return gs_error (GS_EPLUGIN,
                         "method '%s': parameter %zu has an invalid name "
                         "'%s' (use [a-z0-9_]+)",
                         t->id, i, p->name);
      for (j = 0; j < i; j++)
        if (strcmp (t->params[j].name, p->name) == 0)
          return gs_error (GS_EPLUGIN,
                           "method '%s': parameter '%s' is declared twice",
                           t->id, p->name);
      if (sz == 0)
        return gs_error (GS_EPLUGIN,
                         "method '%s': parameter '%s' has unknown type %d",
                         t->id, p->name, (int)p->type);
      if (p->offset + sz > t->params_size || p->offset + sz < p->offset)
        return gs_error (GS_EPLUGIN,
                         "method '%s': parameter '%s' (offset %zu, %zu "
                         "bytes) lies outside params_size %zu",
                         t->id, p->name, p->offset, sz, t->params_size);
      if (!p->help || !*p->help)
        return gs_error (GS_EPLUGIN,
                         "method '%s': parameter '%s' has no help text",
                         t->id, p->name);
      if (p->type == GS_PARAM_INT || p->type == GS_PARAM_REAL)
        {
          if (!(p->min <= p->max) || !(p->def >= p->min)
              || !(p->def <= p->max))
            return gs_error (GS_EPLUGIN,
                             "method '%s': parameter '%s' has default %g "
                             "outside its range [%g, %g]",
                             t->id, p->name, p->def, p->min, p->max);
          if (p->type == GS_PARAM_INT
              && (p->def != (double)(long)p->def || p->min < INT_MIN
                  || p->max > INT_MAX))
            return gs_error (GS_EPLUGIN,
                             "method '%s': integer parameter '%s' has a "
                             "non-integer default or a range beyond int",
                             t->id, p->name);
        }
      if (p->type == GS_PARAM_ENUM)
        {
          size_t nc = n_choices (p->choices);
          if (nc == 0 || p->def < 0 || p->def >= (double)nc
              || p->def != (double)(long)p->def)
            return gs_error (GS_EPLUGIN,
                             "method '%s': enum parameter '%s' needs "
                             "choices \"a|b\" and a default index in "
                             "[0, %zu)",
                             t->id, p->name, nc);
        }
      if (p->type == GS_PARAM_BOOL && p->def != 0 && p->def != 1)
        return gs_error (GS_EPLUGIN,
                         "method '%s': bool parameter '%s' default must be "
                         "0 or 1",
                         t->id, p->name);
      if (p->type == GS_PARAM_STRING && p->choices
          && strlen (p->choices) >= GS_PARAM_STRING_MAX)
        return gs_error (GS_EPLUGIN,
                         "method '%s': string parameter '%s' default is "
                         "too long",
                         t->id, p->name);
    }
  if (t->params && t->params[0].name && t->params_size == 0)
    return gs_error (GS_EPLUGIN, "method '%s' has parameters but "
                                 "params_size 0",
                     t->id);
  return GS_OK;
}

static int
add_failure (gs_registry *reg, const char *msg)
{
  char **f = realloc (reg->failures, (reg->n_failures + 1) * sizeof *f);
  if (!f)
    return GS_ENOMEM;
  reg->failures = f;
  reg->failures[reg->n_failures] = gs__strdup (msg);
  if (reg->failures[reg->n_failures])
    reg->n_failures++;
  return GS_OK;
}

int
gs_registry_load_file (gs_registry *reg, const char *path)
{
  char real[PATH_MAX];
  void *h;
  gs_plugin_entry_fn entry;
  const gs_plugin_info *info;
  gs_plugin_info copy;
  size_t i, j, n_methods = 0;
  gs__plugin *plugins;
  gs__entry *entries;
  union
  {
    void *obj;
    gs_plugin_entry_fn fn;
  } sym;

  if (!realpath (path, real))
    return gs_error (GS_ENOENT, "plugin '%s': cannot resolve path", path);
  for (i = 0; i < reg->n_plugins; i++)
    if (strcmp (reg->plugins[i].path, real) == 0)
      return GS_OK;

  dlerror ();
  h = dlopen (real, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    {
      const char *e = dlerror ();
      return gs_error (GS_EPLUGIN, "plugin '%s': cannot load: %s", path,
                       e ? e : "unknown dlopen error");
    }
  sym.obj = dlsym (h, "gs_plugin_entry");
  entry = sym.fn;
  if (!entry)
    {
      dlclose (h);
      return gs_error (GS_EPLUGIN,
                       "plugin '%s' does not export gs_plugin_entry; define "
                       "it with GS_PLUGIN_DEFINE",
                       path);
    }
  info = entry (gs_host_api_get ());
  if (!info)
    {
      dlclose (h);
      return gs_error (GS_EPLUGIN, "plugin '%s': gs_plugin_entry returned "
                                   "NULL",
                       path);
    }
  if (info->abi_major != GS_ABI_MAJOR || info->abi_minor > GS_ABI_MINOR)
    {
      int rc = gs_error (
          GS_EABI,
          "plugin '%s' was built for gspec ABI %u.%u, but this host "
          "provides ABI %u.%u (major must match, minor must not be "
          "newer); rebuild the plugin against this gspec",
          path, info->abi_major, info->abi_minor, GS_ABI_MAJOR,
          GS_ABI_MINOR);
      dlclose (h);
      return rc;
    }
  if (info->struct_size < offsetof (gs_plugin_info, methods)
                              + sizeof (info->methods)
      || info->struct_size > sizeof (gs_plugin_info))
    {
      int rc = gs_error (GS_EABI,
                         "plugin '%s': descriptor struct_size %u is "
                         "invalid for ABI %u.%u (expected %zu)",
                         path, info->struct_size, info->abi_major,
                         info->abi_minor, sizeof (gs_plugin_info));
      dlclose (h);
      return rc;
    }
  memset (&copy, 0, sizeof copy);
  memcpy (&copy, info, info->struct_size);
  if (!copy.name || !*copy.name || !copy.version || !copy.methods)
    {
      dlclose (h);
      return gs_error (GS_EPLUGIN,
                       "plugin '%s': descriptor lacks a name, a version or "
                       "a method list",
                       path);
    }
  for (i = 0; copy.methods[i]; i++)
    {
      const gs_method_type *t = copy.methods[i];
      int rc = gs_method_type_check (t);
      if (rc != GS_OK)
        {
          gs_error_prefix (rc, "plugin '%s' refused", path);
          dlclose (h);
          return rc;
        }
      /* Messages are formatted before dlclose: t->id lives in the
       * plugin. */
      if (gs_registry_find (reg, t->id))
        {
          rc = gs_error (GS_EDUP,
                         "plugin '%s' refused: method id '%s' is already "
                         "registered by another plugin",
                         path, t->id);
          dlclose (h);
          return rc;
        }
      for (j = 0; j < i; j++)
        if (strcmp (copy.methods[j]->id, t->id) == 0)
          {
            rc = gs_error (GS_EDUP,
                           "plugin '%s' refused: it declares method id "
                           "'%s' twice",
                           path, t->id);
            dlclose (h);
            return rc;
          }
      n_methods++;
    }
  if (n_methods == 0)
    {
      dlclose (h);
      return gs_error (GS_EPLUGIN, "plugin '%s' declares no methods", path);
    }
  /* Everything validated: register atomically. */
  plugins = realloc (reg->plugins, (reg->n_plugins + 1) * sizeof *plugins);
  if (!plugins)
    {
      dlclose (h);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  reg->plugins = plugins;
  entries = realloc (reg->entries,
                     (reg->n_entries + n_methods) * sizeof *entries);
  if (!entries)
    {
      dlclose (h);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  reg->entries = entries;
  reg->plugins[reg->n_plugins].handle = h;
  reg->plugins[reg->n_plugins].path = gs__strdup (real);
  reg->plugins[reg->n_plugins].info = copy;
  if (!reg->plugins[reg->n_plugins].path)
    {
      dlclose (h);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  for (i = 0; i < n_methods; i++)
    {
      reg->entries[reg->n_entries + i].type = copy.methods[i];
      reg->entries[reg->n_entries + i].plugin = reg->n_plugins;
    }
  reg->n_entries += n_methods;
  reg->n_plugins++;
  return GS_OK;
}

/* Loads one file; a refusal is logged and kept.  Returns 1 if refused. */
static int
load_or_record (gs_registry *reg, const char *path)
{
  if (gs_registry_load_file (reg, path) == GS_OK)
    return 0;
  gs_log (GS_LOG_WARN, NULL, "%s", gs_last_error ());
  add_failure (reg, gs_last_error ());
  return 1;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

int
gs_registry_load_dir (gs_registry *reg, const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, i;
  int refused = 0;
  if (!d)
    return 0;
  while ((e = readdir (d)) != NULL)
    {
      size_t len = strlen (e->d_name);
      char **nn;
      if (len < 4 || strcmp (e->d_name + len - 3, ".so") != 0)
        continue;
      nn = realloc (names, (n + 1) * sizeof *nn);
      if (!nn)
        break;
      names = nn;
      names[n] = gs__strdup (e->d_name);
      if (names[n])
        n++;
    }
  closedir (d);
  qsort (names, n, sizeof *names, cmp_str);
  for (i = 0; i < n; i++)
    {
      char *p = gs__path_join (dir, names[i]);
      if (p)
        refused += load_or_record (reg, p);
      free (p);
      free (names[i]);
    }
  free (names);
  return refused;
}

int
gs_registry_load_default (gs_registry *reg)
{
  const char *env = getenv ("GSPEC_PLUGIN_PATH");
  char *exe = gs__exe_dir ();
  int refused = 0;
  if (env && *env)
    {
      char *copy = gs__strdup (env);
      char *p = copy, *colon;
      while (p)
        {
          colon = strchr (p, ':');
          if (colon)
            *colon = '\0';
          if (*p)
            {
              struct stat st;
              if (stat (p, &st) == 0 && S_ISREG (st.st_mode))
                refused += load_or_record (reg, p);
              else
                refused += gs_registry_load_dir (reg, p);
            }
          p = colon ? colon + 1 : NULL;
        }
      free (copy);
    }
  if (exe)
    {
      char *build = gs__path_join (exe, "plugins");
      /* The install layout: <prefix>/bin/gspec and
       * <prefix>/<libdir>/gspec/plugins (libdir may be absolute). */
      char *inst = GSPEC_INSTALL_LIBDIR[0] == '/'
                       ? gs__strdup (GSPEC_INSTALL_LIBDIR "/gspec/plugins")
                       : gs__path_join (exe, "../" GSPEC_INSTALL_LIBDIR
                                             "/gspec/plugins");
      if (build)
        refused += gs_registry_load_dir (reg, build);
      if (inst)
        refused += gs_registry_load_dir (reg, inst);
      free (build);
      free (inst);
      free (exe);
    }
  return refused;
}

size_t
gs_registry_count (const gs_registry *reg)
{
  return reg->n_entries;
}

const gs_method_type *
gs_registry_method (const gs_registry *reg, size_t i)
{
  return i < reg->n_entries ? reg->entries[i].type : NULL;
}

const gs_method_type *
gs_registry_find (const gs_registry *reg, const char *id)
{
  size_t i;
  for (i = 0; i < reg->n_entries; i++)
    if (strcmp (reg->entries[i].type->id, id) == 0)
      return reg->entries[i].type;
  return NULL;
}

const char *
gs_registry_method_path (const gs_registry *reg, size_t i)
{
  return i < reg->n_entries ? reg->plugins[reg->entries[i].plugin].path
                            : NULL;
}

const gs_plugin_info *
gs_registry_method_plugin (const gs_registry *reg, size_t i)
{
  return i < reg->n_entries ? &reg->plugins[reg->entries[i].plugin].info
                            : NULL;
}

size_t
gs_registry_failure_count (const gs_registry *reg)
{
  return reg->n_failures;
}

const char *
gs_registry_failure (const gs_registry *reg, size_t i)
{
  return i < reg->n_failures ? reg->failures[i] : NULL;
}
