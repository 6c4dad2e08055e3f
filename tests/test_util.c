#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
