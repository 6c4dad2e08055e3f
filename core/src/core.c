/* Start-up, logging and the host API table handed to plugins. */
#include "gspec/core.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* From OpenBLAS (cblas.h clashes with GSL's own CBLAS declarations). */
void openblas_set_num_threads (int num_threads);


static gs_log_level gs__log_level = GS_LOG_INFO;

static void
gs__gsl_error_bridge (const char *reason, const char *file, int line,
                      int gsl_errno)
{
  gs_error (gsl_errno == GSL_ENOMEM ? GS_ENOMEM : GS_EFAILED,
            "GSL error %d (%s) at %s:%d: %s", gsl_errno,
            gsl_strerror (gsl_errno), file, line, reason);
}

int
gs_core_init (void)
{
  gsl_set_error_handler (&gs__gsl_error_bridge);
  openblas_set_num_threads (1);
  return GS_OK;
}

void
gs_core_fini (void)
{
}

const char *
gs_version (void)
{
  return GSPEC_VERSION;
}

void
gs_log_set_level (gs_log_level level)
{
  gs__log_level = level;
}

static void
gs__vlog (gs_log_level level, const char *who, const char *fmt, va_list ap)
{
  static const char *names[] = { "error", "warning", "info", "debug" };
  char *msg;
  if (level > gs__log_level)
    return;
  msg = gs__vasprintf (fmt, ap);
  if (!msg)
    return;
  if (who)
    fprintf (stderr, "gspec: %s: [%s] %s\n", names[level], who, msg);
  else
    fprintf (stderr, "gspec: %s: %s\n", names[level], msg);
  free (msg);
}

void
gs_log (gs_log_level level, const char *who, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  gs__vlog (level, who, fmt, ap);
  va_end (ap);
}

static void
host_log (gs_log_level level, const char *method_id, const char *fmt, ...)
{
  va_list ap;
  if ((int)level < 0 || level > GS_LOG_DEBUG)
    level = GS_LOG_INFO;
  va_start (ap, fmt);
  gs__vlog (level, method_id, fmt, ap);
  va_end (ap);
}

static int
host_error (int status, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  va_start (ap, fmt);
  msg = gs__vasprintf (fmt, ap);
  va_end (ap);
  gs_error (status, "%s", msg ? msg : "(out of memory formatting error)");
  free (msg);
  return status;
}

/* Progress of plugin stages: forwarded to the host's progress hook, which
 * the CLI installs (TTY-only bar).  Without a hook, nothing is shown. */
static void (*gs__progress_hook) (const char *, const char *, size_t, size_t);

void gs__set_progress_hook (void (*hook) (const char *, const char *, size_t,
                                          size_t));
void
gs__set_progress_hook (void (*hook) (const char *, const char *, size_t,
                                     size_t))
{
  gs__progress_hook = hook;
}

static void
host_progress (const char *method_id, const char *stage, size_t done,
               size_t total)
{
  if (gs__progress_hook)
    gs__progress_hook (method_id, stage, done, total);
}

static void *
host_alloc (size_t size)
{
  return malloc (size ? size : 1);
}

static void
host_free (void *p)
{
  free (p);
}

struct gs_rng
{
  gsl_rng *r;
};

static gs_rng *
host_rng_alloc (uint64_t seed, uint64_t stream)
{
  gs_rng *g = malloc (sizeof *g);
  if (!g)
    return NULL;
  g->r = gsl_rng_alloc (gsl_rng_mt19937);
  if (!g->r)
    {
      free (g);
      return NULL;
    }
  gsl_rng_set (g->r, (unsigned long)gs__mix64 (gs__mix64 (seed) ^ stream));
  return g;
}

static void
host_rng_free (gs_rng *g)
{
  if (!g)
    return;
  gsl_rng_free (g->r);
  free (g);
}

static double
host_rng_uniform (gs_rng *g)
{
  return gsl_rng_uniform (g->r);
}

static double
host_rng_gaussian (gs_rng *g)
{
  return gsl_ran_gaussian_ziggurat (g->r, 1.0);
}

static unsigned long
host_rng_poisson (gs_rng *g, double mu)
{
  if (!(mu > 0))
    return 0;
  return gsl_ran_poisson (g->r, mu);
}

static int
host_result_add_peak (gs_result *res, const gs_peak *peak)
{
  if (!res || !peak)
    return gs_error (GS_EINVAL, "result_add_peak: NULL argument");
  if (res->n_peaks == res->peak_capacity)
    {
      size_t cap = res->peak_capacity ? 2 * res->peak_capacity : 16;
      gs_peak *p = realloc (res->peaks, cap * sizeof *p);
      if (!p)
        return gs_error (GS_ENOMEM, "out of memory adding a peak");
      res->peaks = p;
      res->peak_capacity = cap;
    }
  res->peaks[res->n_peaks++] = *peak;
  return GS_OK;
}

static const gs_host_api gs__host_api = {
  .struct_size = (uint32_t)sizeof (gs_host_api),
  .abi_major = GS_ABI_MAJOR,
  .abi_minor = GS_ABI_MINOR,
  .log = host_log,
  .error = host_error,
  .progress = host_progress,
  .alloc = host_alloc,
  .free = host_free,
  .rng_alloc = host_rng_alloc,
  .rng_free = host_rng_free,
  .rng_uniform = host_rng_uniform,
  .rng_gaussian = host_rng_gaussian,
  .rng_poisson = host_rng_poisson,
  .result_add_peak = host_result_add_peak,
};

const gs_host_api *
gs_host_api_get (void)
{
  return &gs__host_api;
}
