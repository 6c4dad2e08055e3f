#define _POSIX_C_SOURCE 200809L
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gspec/status.h"

static const char *
skip_blank (const char *s)
{
  while (*s && isspace ((unsigned char)*s))
    s++;
  return s;
}

int
gs__parse_double (const char *s, double *out)
{
  char *end;
  double v;
  if (!s)
    return GS_EINVAL;
  s = skip_blank (s);
  if (!*s)
    return GS_EINVAL;
  errno = 0;
  v = strtod (s, &end);
  if (end == s || errno == ERANGE || !isfinite (v))
    return GS_EINVAL;
  end = (char *)skip_blank (end);
  if (*end)
    return GS_EINVAL;
  *out = v;
  return GS_OK;
}

int
gs__parse_long (const char *s, long *out)
{
  char *end;
  long v;
  if (!s)
    return GS_EINVAL;
  s = skip_blank (s);
  if (!*s)
    return GS_EINVAL;
  errno = 0;
  v = strtol (s, &end, 10);
  if (end == s || errno == ERANGE)
    return GS_EINVAL;
  end = (char *)skip_blank (end);
  if (*end)
    return GS_EINVAL;
  *out = v;
  return GS_OK;
}

int
gs__parse_bool (const char *s, int *out)
{
  static const char *yes[] = { "true", "yes", "on", "1" };
  static const char *no[] = { "false", "no", "off", "0" };
  size_t i;
  if (!s)
    return GS_EINVAL;
  for (i = 0; i < 4; i++)
    {
      if (strcasecmp (s, yes[i]) == 0)
        {
          *out = 1;
          return GS_OK;
        }
      if (strcasecmp (s, no[i]) == 0)
        {
          *out = 0;
          return GS_OK;
        }
    }
  return GS_EINVAL;
}

char *
gs__strdup (const char *s)
{
  return s ? gs__strndup (s, strlen (s)) : NULL;
}

char *
gs__strndup (const char *s, size_t n)
{
  char *p = malloc (n + 1);
  if (!p)
    return NULL;
  memcpy (p, s, n);
  p[n] = '\0';
  return p;
}

char *
gs__vasprintf (const char *fmt, va_list ap)
{
  va_list ap2;
  int n;
  char *p;
  va_copy (ap2, ap);
  n = vsnprintf (NULL, 0, fmt, ap2);
  va_end (ap2);
  if (n < 0)
    return NULL;
  p = malloc ((size_t)n + 1);
  if (!p)
    return NULL;
  vsnprintf (p, (size_t)n + 1, fmt, ap);
  return p;
}

char *
gs__asprintf (const char *fmt, ...)
{
  va_list ap;
  char *p;
  va_start (ap, fmt);
  p = gs__vasprintf (fmt, ap);
  va_end (ap);
  return p;
}

void
gs__buf_init (gs__buf *b)
{
  memset (b, 0, sizeof *b);
}

void
gs__buf_fini (gs__buf *b)
{
  free (b->data);
  memset (b, 0, sizeof *b);
}

void
gs__buf_append (gs__buf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 256;
      char *p;
      while (cap < b->len + n + 1)
        cap *= 2;
      p = realloc (b->data, cap);
      if (!p)
        {
          b->failed = 1;
          return;
        }
      b->data = p;
      b->cap = cap;
    }
  memcpy (b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
gs__buf_puts (gs__buf *b, const char *s)
{
  gs__buf_append (b, s, strlen (s));
}

void
gs__buf_printf (gs__buf *b, const char *fmt, ...)
{
  va_list ap;
  char *p;
  va_start (ap, fmt);
  p = gs__vasprintf (fmt, ap);
  va_end (ap);
  if (!p)
    {
      b->failed = 1;
      return;
    }
  gs__buf_puts (b, p);
  free (p);
}

void
gs__buf_json_string (gs__buf *b, const char *s)
{
  const unsigned char *p;
  gs__buf_append (b, "\"", 1);
  for (p = (const unsigned char *)(s ? s : ""); *p; p++)
    {
      char esc[8];
      switch (*p)
        {
        case '"':
          gs__buf_append (b, "\\\"", 2);
          break;
        case '\\':
          gs__buf_append (b, "\\\\", 2);
          break;
        case '\n':
          gs__buf_append (b, "\\n", 2);
          break;
        case '\t':
          gs__buf_append (b, "\\t", 2);
          break;
        case '\r':
          gs__buf_append (b, "\\r", 2);
          break;
        default:
          if (*p < 0x20)
            {
              snprintf (esc, sizeof esc, "\\u%04x", *p);
              gs__buf_puts (b, esc);
            }
          else
            gs__buf_append (b, (const char *)p, 1);
        }
    }
  gs__buf_append (b, "\"", 1);
}

void
gs__buf_json_number (gs__buf *b, double v)
{
  char tmp[40];
  if (!isfinite (v))
    {
      gs__buf_puts (b, "null");
      return;
    }
  snprintf (tmp, sizeof tmp, "%.17g", v);
  gs__buf_puts (b, tmp);
}

char *
gs__path_join (const char *dir, const char *name)
{
  size_t n;
  if (name[0] == '/' || !dir || !*dir)
    return gs__strdup (name);
  n = strlen (dir);
  if (n > 0 && dir[n - 1] == '/')
    return gs__asprintf ("%s%s", dir, name);
  return gs__asprintf ("%s/%s", dir, name);
}

char *
gs__path_dirname (const char *path)
{
  const char *slash = strrchr (path, '/');
  if (!slash)
    return gs__strdup (".");
  if (slash == path)
    return gs__strdup ("/");
  return gs__strndup (path, (size_t)(slash - path));
}

int
gs__mkdirs (const char *path)
{
  char *p = gs__strdup (path);
  char *q;
  if (!p)
    return gs_error (GS_ENOMEM, "out of memory");
  for (q = p + 1; *q; q++)
    {
      if (*q == '/')
        {
          *q = '\0';
          if (mkdir (p, 0777) != 0 && errno != EEXIST)
            {
              int e = errno;
              int rc = gs_error (GS_EIO, "cannot create directory '%s': %s",
                                 p, strerror (e));
              free (p);
              return rc;
            }
          *q = '/';
        }
    }
  if (mkdir (p, 0777) != 0 && errno != EEXIST)
    {
      int e = errno;
      int rc = gs_error (GS_EIO, "cannot create directory '%s': %s", p,
                         strerror (e));
      free (p);
      return rc;
    }
  free (p);
  return GS_OK;
}

int
gs__write_file_atomic (const char *path, const char *data, size_t len)
{
  char *tmp = gs__asprintf ("%s.tmp.%ld", path, (long)getpid ());
  int fd;
  size_t off = 0;
  if (!tmp)
    return gs_error (GS_ENOMEM, "out of memory");
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0)
    {
      int e = errno;
      int rc = gs_error (GS_EIO, "cannot write '%s': %s", tmp, strerror (e));
      free (tmp);
      return rc;
    }
  while (off < len)
    {
      ssize_t w = write (fd, data + off, len - off);
      if (w < 0)
        {
          int e = errno;
          if (e == EINTR)
            continue;
          close (fd);
          unlink (tmp);
          free (tmp);
          return gs_error (GS_EIO, "cannot write '%s': %s", path,
                           strerror (e));
        }
      off += (size_t)w;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      int e = errno;
      unlink (tmp);
      free (tmp);
      return gs_error (GS_EIO, "cannot write '%s': %s", path, strerror (e));
    }
  if (rename (tmp, path) != 0)
    {
      int e = errno;
      unlink (tmp);
      free (tmp);
      return gs_error (GS_EIO, "cannot rename onto '%s': %s", path,
                       strerror (e));
    }
  free (tmp);
  return GS_OK;
}

int
gs__read_file (const char *path, char **data, size_t *len)
{
  FILE *f = fopen (path, "rb");
  gs__buf b;
  char chunk[65536];
  size_t n;
  if (!f)
    return gs_error (GS_ENOENT, "cannot open '%s': %s", path,
                     strerror (errno));
  gs__buf_init (&b);
  gs__buf_append (&b, "", 0);
  while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
    gs__buf_append (&b, chunk, n);
  if (ferror (f) || b.failed)
    {
      fclose (f);
      gs__buf_fini (&b);
      return gs_error (GS_EIO, "cannot read '%s'", path);
    }
  fclose (f);
  *data = b.data;
  if (len)
    *len = b.len;
  return GS_OK;
}

char *
gs__exe_dir (void)
{
  char buf[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  return gs__path_dirname (buf);
}

double
gs__now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

unsigned long long
gs__mix64 (unsigned long long x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
