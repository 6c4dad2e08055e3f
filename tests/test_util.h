/* Helpers shared by the test files. */
#ifndef GSPEC_TEST_UTIL_H
#define GSPEC_TEST_UTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

/* The shared data folder ($GSPEC_DATA, else ../shared/data beside the
 * source tree), or NULL when absent: the caller then skips, and this
 * prints "SKIP <test>: <reason>" once per call. */
const char *gs_test_data_dir (const char *test_name);

/* A fresh empty temporary directory (malloc'd path), removed by
 * gs_test_rmtree. */
char *gs_test_tmpdir (void);
void gs_test_rmtree (const char *path);

/* Writes `text` to dir/name; returns the malloc'd full path. */
char *gs_test_write (const char *dir, const char *name, const char *text);

/* Reads the numeric array that follows `"key": [` after the first
 * occurrence of `after` (or from the start) in a JSON text, at most max
 * values; nested brackets are flattened ([[a, b], [c]] gives a, b, c).
 * Returns the count, 0 when the key is absent or a value is not a
 * number. */
size_t gs_test_json_array (const char *text, const char *after,
                           const char *key, double *out, size_t max);

/* Relative difference |a-b| / max(|b|, tiny). */
double gs_test_reldiff (double a, double b);

/* dir/name read whole (malloc'd), or NULL. */
char *gs_test_slurp (const char *dir, const char *name);
int gs_test_file_exists (const char *dir, const char *name);

/* The metric parts of a run's results.json: the "report" member and
 * every method's "metrics" object (timings and dates excluded). */
char *gs_test_metrics_of (const char *dir);

/* 1 when dir1/name and dir2/name have the same text (prints which file
 * differs otherwise). */
int gs_test_same_file (const char *d1, const char *d2, const char *name);

/* gspec run CONFIG --out OUT --threads N [--fresh] --quiet, in process. */
int gs_test_run_cfg (const char *cfg, const char *out, int threads,
                     int fresh);

/* Asserts that `haystack` contains `needle`, printing both on failure. */
#define GS_ASSERT_CONTAINS(haystack, needle)                                 \
  do                                                                         \
    {                                                                        \
      const char *h__ = (haystack);                                          \
      const char *n__ = (needle);                                            \
      int ok__ = h__ && n__ && strstr (h__, n__) != NULL;                    \
      if (!ok__)                                                             \
        fprintf (stderr, "\n  expected \"%s\" in \"%s\"\n", n__ ? n__ : "",  \
                 h__ ? h__ : "(null)");                                      \
      CU_ASSERT (ok__);                                                      \
    }                                                                        \
  while (0)

#endif
