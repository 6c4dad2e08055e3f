/* Internal helpers shared by the core: checked number parsing, strings,
 * paths and atomic file writes.  Not part of the SDK. */
#ifndef GSPEC_UTIL_H
#define GSPEC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Parses a whole string as a finite double (leading/trailing blanks
 * allowed).  Returns GS_OK or GS_EINVAL; sets no error message. */
int gs__parse_double (const char *s, double *out);

/* Parses a whole string as a base-10 integer in [LONG_MIN, LONG_MAX]. */
int gs__parse_long (const char *s, long *out);

/* Parses true/false/yes/no/on/off/1/0 (case-insensitive). */
int gs__parse_bool (const char *s, int *out);

/* malloc'd copies; NULL on allocation failure. */
char *gs__strdup (const char *s);
char *gs__strndup (const char *s, size_t n);
char *gs__asprintf (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
char *gs__vasprintf (const char *fmt, va_list ap);

/* Growable string buffer. */
typedef struct gs__buf
{
  char *data;
  size_t len;
  size_t cap;
  int failed; /* set on allocation failure; later appends do nothing */
} gs__buf;

void gs__buf_init (gs__buf *b);
void gs__buf_fini (gs__buf *b);
void gs__buf_append (gs__buf *b, const char *s, size_t n);
void gs__buf_puts (gs__buf *b, const char *s);
void gs__buf_printf (gs__buf *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
/* Appends s as a JSON string literal (with quotes and escapes). */
void gs__buf_json_string (gs__buf *b, const char *s);
/* Appends a double as JSON (%.17g; NaN/Inf become null). */
void gs__buf_json_number (gs__buf *b, double v);

/* Joins dir and name with one '/', malloc'd.  An absolute name is
 * returned as is (copied). */
char *gs__path_join (const char *dir, const char *name);
/* The directory part of a path (malloc'd; "." when none). */
char *gs__path_dirname (const char *path);
/* mkdir -p; existing directories are fine. */
int gs__mkdirs (const char *path);

/* Writes `len` bytes to `path` atomically: a temporary file in the same
 * directory, fsync, then rename.  Errors name the path. */
int gs__write_file_atomic (const char *path, const char *data, size_t len);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
int gs__read_file (const char *path, char **data, size_t *len);

/* The directory of the running executable (malloc'd), or NULL. */
char *gs__exe_dir (void);

/* Monotonic time in seconds. */
double gs__now (void);

/* A 64-bit mixing function (splitmix64 finaliser) used to derive
 * independent seeds from (seed, stream). */
unsigned long long gs__mix64 (unsigned long long x);

#endif
