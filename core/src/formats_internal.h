/* Per-format readers and writers behind gspec/formats.h.  Internal.
 *
 * A reader parses buf[0..len) (never past len, never assuming a NUL
 * terminator), names `name` in every message, fills a new gs_specfile
 * (format set, source = name) and returns GS_OK, or returns an error
 * (GS_EFORMAT for malformed input, GS_ENOMEM past the limits of
 * gspec/formats.h) with *out NULL.  A writer writes f to the open
 * stream; the caller handles the file (atomic rename) and checks that
 * the measurement count suits the format. */
#ifndef GSPEC_FORMATS_INTERNAL_H
#define GSPEC_FORMATS_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "gspec/formats.h"

/* Little-endian fields of the binary formats (CHN, CNF). */
static inline uint16_t
gs__le16 (const unsigned char *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
gs__le32 (const unsigned char *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
         | ((uint32_t)p[3] << 24);
}

int gs__read_n42 (const char *buf, size_t len, const char *name,
                  gs_specfile **out);
int gs__read_spe (const char *buf, size_t len, const char *name,
                  gs_specfile **out);
int gs__read_chn (const unsigned char *buf, size_t len, const char *name,
                  gs_specfile **out);
int gs__read_cnf (const unsigned char *buf, size_t len, const char *name,
                  gs_specfile **out);
int gs__read_csv (const char *buf, size_t len, const char *name,
                  gs_specfile **out);

int gs__write_n42 (const gs_specfile *f, FILE *out);
int gs__write_spe (const gs_specfile *f, FILE *out);
int gs__write_csv (const gs_specfile *f, FILE *out);
/* CHN writer: for tests and round trips of the binary reader. */
int gs__write_chn (const gs_specfile *f, FILE *out);

#endif
