#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gspec/status.h"
#include "run.h"
#include "util.h"

const char *
gs_test_data_dir (const char *test_name)
{
  static char path[4096];
  const char *env = getenv ("GSPEC_DATA");
  struct stat st;
  const char *dir = (env && *env) ? env : GSPEC_DATA_DEFAULT;
  if (stat (dir, &st) == 0 && S_ISDIR (st.st_mode))
    {
      snprintf (path, sizeof path, "%s", dir);
      return path;
    }
  printf ("\n  SKIP %s: data folder '%s' not found (set GSPEC_DATA)\n",
          test_name, dir);
  return NULL;
}

char *
gs_test_tmpdir (void)
{
  char tmpl[] = "/tmp/gspec-test-XXXXXX";
  char *d = mkdtemp (tmpl);
  return d ? gs__strdup (d) : NULL;
}

void
gs_test_rmtree (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *e;
  if (!d)
    {
      unlink (path);
      return;
    }
  while ((e = readdir (d)) != NULL)
    {
      char *p;
      struct stat st;
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      p = gs__path_join (path, e->d_name);
      if (lstat (p, &st) == 0 && S_ISDIR (st.st_mode))
        gs_test_rmtree (p);
      else
        unlink (p);
      free (p);
    }
  closedir (d);
  rmdir (path);
}

char *
gs_test_write (const char *dir, const char *name, const char *text)
{
  char *p = gs__path_join (dir, name);
  FILE *f = fopen (p, "wb");
  if (f)
    {
      fputs (text, f);
      fclose (f);
    }
  return p;
}

double
gs_test_reldiff (double a, double b)
{
  double d = fabs (b);
  return fabs (a - b) / (d > 1e-300 ? d : 1e-300);
}

/* Reads the numeric array that follows `"key": [` after the first
 * occurrence of `after` (or from the start) in a JSON text; nested
 * brackets are skipped, so [[a, b], [c, d]] gives a, b, c, d. */
size_t
gs_test_json_array (const char *text, const char *after, const char *key,
                    double *out, size_t max)
{
  const char *p = after ? strstr (text, after) : text;
  char pat[128];
  size_t n = 0;
  int depth = 1;
  if (!p)
    return 0;
  snprintf (pat, sizeof pat, "\"%s\": [", key);
  p = strstr (p, pat);
  if (!p)
    return 0;
  p += strlen (pat);
  while (*p && depth > 0 && n < max)
    {
      char *end;
      if (*p == '[')
        depth++, p++;
      else if (*p == ']')
        depth--, p++;
      else if (*p == ',' || *p == ' ' || *p == '\n')
        p++;
      else
        {
          out[n++] = strtod (p, &end);
          if (end == p)
            return 0;
          p = end;
        }
    }
  return n;
}

/* Not inlined: GCC 12 -O3 misreads the address-taken local as dangling
 * (-Wdangling-pointer false positive). */
__attribute__ ((noinline)) char *
gs_test_slurp (const char *dir, const char *name)
{
  char *p = gs__path_join (dir, name), *text = NULL;
  int rc = gs__read_file (p, &text, NULL);
  free (p);
  return rc == GS_OK ? text : NULL;
}

/* The metric parts of results.json: the "report" member and every
 * method's "metrics" object (timings and dates are excluded). */
char *
gs_test_metrics_of (const char *dir)
{
  char *t = gs_test_slurp (dir, "results.json"), *r, *out;
  gs__buf b;
  const char *p;
  if (!t)
    return NULL;
  gs__buf_init (&b);
  for (p = strstr (t, "\"metrics\": {"); p; p = strstr (p + 1, "\"metrics\": {"))
    {
      /* the metrics object ends its line */
      const char *e = strchr (p, '\n');
      gs__buf_append (&b, p, e ? (size_t)(e - p) : strlen (p));
    }
  r = strstr (t, "\"report\": ");
  /* the report without its "timing" objects */
  while (r && *r)
    {
      const char *tm = strstr (r, "\"timing\": {");
      const char *e = tm ? strchr (tm, '}') : NULL;
      if (!tm || !e)
        {
          gs__buf_puts (&b, r);
          break;
        }
      gs__buf_append (&b, r, (size_t)(tm - r));
      r = (char *)e + 1;
    }
  if (!strstr (t, "\"report\": "))
    gs__buf_puts (&b, "(no report)");
  out = gs__strdup (b.data ? b.data : "");
  gs__buf_fini (&b);
  free (t);
  return out;
}

int
gs_test_same_file (const char *d1, const char *d2, const char *name)
{
  char *a = gs_test_slurp (d1, name), *b = gs_test_slurp (d2, name);
  int same = a && b && strcmp (a, b) == 0;
  if (!same)
    fprintf (stderr, "\n  %s differs between %s and %s\n", name, d1, d2);
  free (a);
  free (b);
  return same;
}

int
gs_test_run_cfg (const char *cfg, const char *out, int threads, int fresh)
{
  gs_run_opts o;
  gs_run_opts_init (&o);
  o.config = cfg;
  o.out_dir = out;
  o.threads = threads;
  o.quiet = 1;
  o.fresh = fresh;
  return gs_run (&o);
}

int
gs_test_file_exists (const char *dir, const char *name)
{
  char *p = gs__path_join (dir, name);
  struct stat st;
  int ok = stat (p, &st) == 0;
  free (p);
  return ok;
}
