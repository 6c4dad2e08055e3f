/* ANSI N42.42 reader (N42-2012 and N42-2006) and N42-2012 writer, on
 * libxml2.
 *
 * Conventions decided here (see gspec/formats.h):
 * - An N42 energy polynomial (2012 CoefficientValues, 2006 Equation
 *   Model="Polynomial") gives the energy of the LOWER EDGE of channel x
 *   (0-based): P(x) = sum c_k x^k, as SpecUtils reads and writes N42.  A
 *   FullRangeFraction gives the lower edge too, with x = ch / n and
 *   E = c0 + c1 x + c2 x^2 + c3 x^3 (+ c4 / (1 + 60 x), refused when
 *   c4 != 0).  The reader returns the centre polynomial
 *   E(ch) = P(ch + 1/2) expanded in powers of ch; the writer writes
 *   P(x) = E(x - 1/2), the exact algebraic inverse, each coefficient
 *   then moved by up to 16 ulps so that the reader's expansion gives the
 *   centre coefficient back bit for bit when such a double exists.  A
 *   write-read round trip gives counts, times and start times
 *   bit-identical, and coefficients bit-identical or (when no such
 *   double exists) within an ulp or two of the largest term (1e-12
 *   relative in the tests).
 * - 2012: a Spectrum's energyCalibrationReference names its
 *   calibration; without one it takes the file's only EnergyCalibration
 *   unless another Spectrum uses references (then it has none).  The
 *   detector is the referenced RadDetectorInformation's RadDetectorName,
 *   else its id.  The title is the first Remark of the Spectrum, else of
 *   the RadMeasurement, else of the document.
 * - 2006: every Spectrum anywhere below the root; StartTime, RealTime,
 *   LiveTime and Remark from the Spectrum or its nearest ancestor; the
 *   energy Calibration from the Spectrum, its CalibrationIDs, an
 *   ancestor, or the file's only one; Detector attribute as detector.
 * - Element names are matched by local name; namespaces are not checked
 *   (vendor files mix them).  Titles (Remark) and detector names are
 *   trimmed of XML white space.
 * - Entities are never substituted and no DTD or network resource is
 *   loaded; a document that declares any entity is refused at the
 *   declaration, which also stops entity-expansion bombs.
 * - Counts, coefficients and times are written in the fewest of 15-17
 *   significant digits that read back to the same double.
 * - libxml2's default limits hold (no XML_PARSE_HUGE): a text node, such
 *   as one ChannelData, of at most 10 MB.
 * - Durations are xs:duration (PnDTnHnMnS; years and months refused) or
 *   a plain number of seconds; a negative one is an error.  Start times
 *   keep "YYYY-MM-DDThh:mm:ss" and a zone, dropping fractional seconds.
 * - A calibration given only as energy values or boundaries (no
 *   coefficients), or another 2006 Equation model, is GS_EUNSUPPORTED. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "formats_internal.h"
#include "gspec/status.h"
#include "util.h"

#define N42_NS_2012 "http://physics.nist.gov/N42/2011/N42"
#define N42_MAX_TOKEN 63
/* More Calibration / EnergyCalibration elements than this is refused, so
 * that reference look-ups stay cheap. */
#define N42_MAX_CALIBRATIONS (4 * GS_FORMAT_MAX_MEASUREMENTS)

/* ---- Small text helpers ---------------------------------------------- */

static int
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
name_is (const xmlNode *n, const char *local)
{
  return n && n->type == XML_ELEMENT_NODE
         && strcmp ((const char *)n->name, local) == 0;
}

/* First element child (from `from`, a child of the same parent, or the
 * first child when NULL) named `local`, or NULL. */
static xmlNode *
child_after (const xmlNode *parent, const xmlNode *from, const char *local)
{
  xmlNode *c = from ? from->next : parent->children;
  for (; c; c = c->next)
    if (name_is (c, local))
      return c;
  return NULL;
}

static xmlNode *
child (const xmlNode *parent, const char *local)
{
  return child_after (parent, NULL, local);
}

/* The text and CDATA nodes of a child list, concatenated (malloc'd;
 * NULL on allocation failure).  Entity references are skipped, never
 * expanded. */
static char *
text_nodes (const xmlNode *c)
{
  gs__buf b;
  gs__buf_init (&b);
  gs__buf_append (&b, "", 0);
  for (; c; c = c->next)
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
        && c->content)
      gs__buf_puts (&b, (const char *)c->content);
  if (b.failed || !b.data)
    {
      gs__buf_fini (&b);
      return NULL;
    }
  return b.data;
}

static char *
node_text (const xmlNode *n)
{
  return text_nodes (n->children);
}

/* An attribute's value (any namespace; text children only), malloc'd, or
 * NULL when absent.  *oom is set on allocation failure. */
static char *
attr (const xmlNode *n, const char *name, int *oom)
{
  const xmlAttr *a;
  for (a = n->properties; a; a = a->next)
    if (strcmp ((const char *)a->name, name) == 0)
      {
        char *s = text_nodes (a->children);
        if (!s)
          *oom = 1;
        return s;
      }
  return NULL;
}

/* Trims XML white space in place; returns s. */
static char *
trim (char *s)
{
  size_t a = 0, n = strlen (s);
  while (n > 0 && is_space (s[n - 1]))
    n--;
  while (a < n && is_space (s[a]))
    a++;
  memmove (s, s + a, n - a);
  s[n - a] = '\0';
  return s;
}

static long
line_of (const xmlNode *n)
{
  return xmlGetLineNo (n);
}

/* ---- Parsing the document --------------------------------------------- */

/* What the entity-declaration hooks saw during the current parse. */
typedef struct entity_guard
{
  int seen;
  int line;
  char name[64];
} entity_guard;

static _Thread_local entity_guard *n42_guard;

static void
guard_note (void *ctx, const xmlChar *name)
{
  xmlParserCtxtPtr ctxt = ctx;
  entity_guard *g = n42_guard;
  if (g && !g->seen)
    {
      g->seen = 1;
      g->line = (ctxt && ctxt->input) ? ctxt->input->line : 0;
      snprintf (g->name, sizeof g->name, "%s", name ? (const char *)name : "");
    }
  if (ctxt)
    xmlStopParser (ctxt);
}

static void
refuse_entity (void *ctx, const xmlChar *name, int type,
               const xmlChar *public_id, const xmlChar *system_id,
               xmlChar *content)
{
  (void)type;
  (void)public_id;
  (void)system_id;
  (void)content;
  guard_note (ctx, name);
}

static void
refuse_unparsed_entity (void *ctx, const xmlChar *name,
                        const xmlChar *public_id, const xmlChar *system_id,
                        const xmlChar *notation)
{
  (void)public_id;
  (void)system_id;
  (void)notation;
  guard_note (ctx, name);
}

static pthread_once_t n42_once = PTHREAD_ONCE_INIT;

static void
n42_init (void)
{
  xmlInitParser ();
}

static int
parse_doc (const char *buf, size_t len, const char *name, xmlDoc **out)
{
  xmlParserCtxtPtr ctxt;
  xmlDoc *doc;
  entity_guard g;
  int rc = GS_OK;

  *out = NULL;
  if (len > (size_t)INT_MAX)
    return gs_error (GS_ENOMEM,
                     "%s: %zu bytes is past the XML parser's limit of %d", name,
                     len, INT_MAX);
  pthread_once (&n42_once, n42_init);
  ctxt = xmlNewParserCtxt ();
  if (!ctxt || !ctxt->sax)
    {
      xmlFreeParserCtxt (ctxt);
      return gs_error (GS_ENOMEM, "%s: out of memory for the XML parser", name);
    }
  memset (&g, 0, sizeof g);
  ctxt->sax->entityDecl = refuse_entity;
  ctxt->sax->unparsedEntityDecl = refuse_unparsed_entity;
  n42_guard = &g;
  /* No XML_PARSE_NOENT (entities are never substituted), no DTDLOAD,
   * DTDATTR or HUGE; NONET forbids network access. */
  doc = xmlCtxtReadMemory (ctxt, buf, (int)len, NULL, NULL,
                           XML_PARSE_NONET | XML_PARSE_NOWARNING
                               | XML_PARSE_NOERROR | XML_PARSE_BIG_LINES);
  n42_guard = NULL;
  if (g.seen)
    rc = gs_error (GS_EFORMAT,
                   "%s: line %d: declares the XML entity \"%s\"; entity "
                   "declarations are refused (N42 needs none, and no "
                   "entity is expanded or loaded)",
                   name, g.line, g.name);
  else if (!doc)
    {
      const xmlError *e = xmlCtxtGetLastError (ctxt);
      if (e && e->code == XML_ERR_NO_MEMORY)
        rc = gs_error (GS_ENOMEM, "%s: out of memory parsing XML", name);
      else if (e && e->message)
        {
          char *msg = gs__strdup (e->message), *nl;
          for (nl = msg; nl && *nl; nl++)
            if (*nl == '\n')
              *nl = ' ';
          rc = gs_error (GS_EFORMAT,
                         "%s: line %d, column %d: not "
                         "well-formed XML: %s",
                         name, e->line, e->int2, msg ? trim (msg) : e->message);
          free (msg);
        }
      else
        rc = gs_error (GS_EFORMAT, "%s: not well-formed XML", name);
    }
  xmlFreeParserCtxt (ctxt);
  if (rc != GS_OK)
    {
      xmlFreeDoc (doc);
      return rc;
    }
  *out = doc;
  return GS_OK;
}

/* ---- Values ------------------------------------------------------------ */

/* Parses s[0..n) as a finite double. */
static int
parse_span (const char *s, size_t n, double *v)
{
  char tmp[N42_MAX_TOKEN + 1];
  if (n == 0 || n > N42_MAX_TOKEN)
    return GS_EINVAL;
  memcpy (tmp, s, n);
  tmp[n] = '\0';
  return gs__parse_double (tmp, v);
}

/* xs:duration (PnDTnHnMnS; Y and M refused unless 0), or a plain number
 * of seconds, to seconds.  GS_EINVAL when it is neither or negative. */
static int
parse_duration (const char *s, double *out)
{
  double total = 0.0, v;
  int in_time = 0, parts = 0;
  size_t n = strlen (s);
  const char *p = s;
  if (n == 0)
    return GS_EINVAL;
  if (*p != 'P')
    {
      if (gs__parse_double (s, &v) != GS_OK || v < 0)
        return GS_EINVAL;
      *out = v;
      return GS_OK;
    }
  p++;
  while (*p)
    {
      const char *q = p;
      double scale;
      if (*p == 'T')
        {
          if (in_time)
            return GS_EINVAL;
          in_time = 1;
          p++;
          if (!*p)
            return GS_EINVAL;
          continue;
        }
      while ((*q >= '0' && *q <= '9') || *q == '.')
        q++;
      if (q == p || parse_span (p, (size_t)(q - p), &v) != GS_OK)
        return GS_EINVAL;
      switch (*q)
        {
        case 'Y':
          if (in_time || v != 0)
            return GS_EINVAL;
          scale = 0;
          break;
        case 'M':
          if (!in_time && v != 0)
            return GS_EINVAL;
          scale = in_time ? 60.0 : 0;
          break;
        case 'D':
          if (in_time)
            return GS_EINVAL;
          scale = 86400.0;
          break;
        case 'H':
          if (!in_time)
            return GS_EINVAL;
          scale = 3600.0;
          break;
        case 'S':
          if (!in_time)
            return GS_EINVAL;
          scale = 1.0;
          break;
        default:
          return GS_EINVAL;
        }
      total += scale * v;
      parts++;
      p = q + 1;
    }
  if (parts == 0 || !isfinite (total))
    return GS_EINVAL;
  *out = total;
  return GS_OK;
}

static int
digits (const char *s, int n, int *v)
{
  int i, x = 0;
  for (i = 0; i < n; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return 0;
      x = 10 * x + (s[i] - '0');
    }
  *v = x;
  return 1;
}

/* xs:dateTime "YYYY-MM-DDThh:mm:ss[.f][Z|(+|-)hh:mm]" (a blank instead
 * of T accepted) into out: "YYYY-MM-DDThh:mm:ss" and the zone. */
static int
parse_datetime (const char *s, char out[32])
{
  int y, mo, d, h, mi, sec, zh, zm;
  const char *p;
  char zone[8] = "";
  if (strlen (s) < 19 || !digits (s, 4, &y) || s[4] != '-'
      || !digits (s + 5, 2, &mo) || s[7] != '-' || !digits (s + 8, 2, &d)
      || (s[10] != 'T' && s[10] != ' ') || !digits (s + 11, 2, &h)
      || s[13] != ':' || !digits (s + 14, 2, &mi) || s[16] != ':'
      || !digits (s + 17, 2, &sec))
    return GS_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60)
    return GS_EINVAL;
  p = s + 19;
  if (*p == '.')
    {
      p++;
      if (*p < '0' || *p > '9')
        return GS_EINVAL;
      while (*p >= '0' && *p <= '9')
        p++;
    }
  if (*p == 'Z')
    {
      zone[0] = 'Z';
      zone[1] = '\0';
      p++;
    }
  else if (*p == '+' || *p == '-')
    {
      if (!digits (p + 1, 2, &zh) || p[3] != ':' || !digits (p + 4, 2, &zm)
          || zh > 14 || zm > 59)
        return GS_EINVAL;
      memcpy (zone, p, 6);
      zone[6] = '\0';
      p += 6;
    }
  if (*p)
    return GS_EINVAL;
  snprintf (out, 32, "%.19s%s", s, zone);
  out[10] = 'T';
  return GS_OK;
}

/* ---- Reading context ------------------------------------------------- */

typedef struct n42_reader
{
  const char *name;
  xmlNode *root;
  /* 2012: EnergyCalibration and RadDetectorInformation children of the
   * root; 2006: every Calibration element. */
  xmlNode **cals;
  size_t n_cals;
  xmlNode **dets;
  size_t n_dets;
  /* 2012: some Spectrum names an EnergyCalibration, so one that names
   * none has none (else the file's only calibration applies). */
  int any_cal_ref;
} n42_reader;

/* Text of an element, trimmed (malloc'd). */
static int
text_of (const n42_reader *r, const xmlNode *n, char **out)
{
  *out = node_text (n);
  if (!*out)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  trim (*out);
  return GS_OK;
}

/* The element's trimmed text as a new string, NULL when empty. */
static int
optional_text (const n42_reader *r, const xmlNode *n, char **out)
{
  int rc;
  *out = NULL;
  if (!n)
    return GS_OK;
  rc = text_of (r, n, out);
  if (rc == GS_OK && !**out)
    {
      free (*out);
      *out = NULL;
    }
  return rc;
}

static int
read_duration (const n42_reader *r, const xmlNode *n, double *out)
{
  char *s;
  int rc;
  *out = NAN;
  if (!n)
    return GS_OK;
  rc = text_of (r, n, &s);
  if (rc != GS_OK)
    return rc;
  if (parse_duration (s, out) != GS_OK)
    rc = gs_error (GS_EFORMAT,
                   "%s: line %ld: %s \"%.40s\" is not a non-negative "
                   "xs:duration (like PT300.5S or PT1H2M3.5S)",
                   r->name, line_of (n), (const char *)n->name, s);
  free (s);
  return rc;
}

static int
read_start (const n42_reader *r, const xmlNode *n, char out[32])
{
  char *s;
  int rc;
  out[0] = '\0';
  if (!n)
    return GS_OK;
  rc = text_of (r, n, &s);
  if (rc != GS_OK)
    return rc;
  if (parse_datetime (s, out) != GS_OK)
    rc = gs_error (GS_EFORMAT,
                   "%s: line %ld: %s \"%.40s\" is not an xs:dateTime "
                   "(YYYY-MM-DDThh:mm:ss[Z|+hh:mm])",
                   r->name, line_of (n), (const char *)n->name, s);
  free (s);
  return rc;
}

/* A list of at most GS_FORMAT_MAX_COEFS numbers. */
static int
read_coefs (const n42_reader *r, const xmlNode *n, double *c, size_t *nc)
{
  char *s;
  const char *p;
  size_t k = 0;
  int rc;
  *nc = 0;
  rc = text_of (r, n, &s);
  if (rc != GS_OK)
    return rc;
  p = s;
  for (;;)
    {
      const char *q;
      double v;
      while (is_space (*p))
        p++;
      if (!*p)
        break;
      q = p;
      while (*q && !is_space (*q))
        q++;
      if (k < GS_FORMAT_MAX_COEFS
          && parse_span (p, (size_t)(q - p), &v) != GS_OK)
        {
          rc = gs_error (GS_EFORMAT,
                         "%s: line %ld: %s value %zu \"%.*s\" is not a "
                         "finite number",
                         r->name, line_of (n), (const char *)n->name, k + 1,
                         (int)((q - p) > 40 ? 40 : (q - p)), p);
          free (s);
          return rc;
        }
      if (k < GS_FORMAT_MAX_COEFS)
        c[k] = v;
      k++;
      p = q;
    }
  free (s);
  if (k > GS_FORMAT_MAX_COEFS)
    return gs_error (GS_EFORMAT,
                     "%s: line %ld: %s holds %zu calibration coefficients; "
                     "at most %d are supported",
                     r->name, line_of (n), (const char *)n->name, k,
                     GS_FORMAT_MAX_COEFS);
  *nc = k;
  return GS_OK;
}

/* Lower-edge polynomial c (in x) to the centre convention, one
 * coefficient: q_j = sum_{k>=j} c_k binom(k, j) (1/2)^(k-j). */
static double
edge_to_centre_row (const double *c, size_t n, size_t j)
{
  double s = 0.0, b = 1.0, h = 1.0; /* binom(k, j), 0.5^(k-j) */
  size_t k;
  for (k = j; k < n; k++)
    {
      s += c[k] * b * h;
      b = b * (double)(k + 1) / (double)(k + 1 - j);
      h *= 0.5;
    }
  return s;
}

static void
edge_to_centre (const double *c, size_t n, double *q)
{
  size_t j;
  for (j = 0; j < n; j++)
    q[j] = edge_to_centre_row (c, n, j);
}

/* Inverse of edge_to_centre: c_j = sum_{k>=j} q_k binom(k, j) (-1/2)^(k-j),
 * then each c_j, from the highest degree down, moved by up to 16 ulps
 * to the value for which edge_to_centre gives q_j back bit for bit, when
 * there is one (q_j depends only on c_j .. c_{n-1}). */
static void
centre_to_edge (const double *q, size_t n, double *c)
{
  size_t j, k;
  int step;
  for (j = 0; j < n; j++)
    {
      double s = 0.0, b = 1.0, h = 1.0;
      for (k = j; k < n; k++)
        {
          s += q[k] * b * h;
          b = b * (double)(k + 1) / (double)(k + 1 - j);
          h *= -0.5;
        }
      c[j] = s;
    }
  for (j = n; j-- > 0;)
    {
      double start = c[j], lo = start, hi = start;
      if (edge_to_centre_row (c, n, j) == q[j])
        continue;
      for (step = 0; step < 16; step++)
        {
          c[j] = lo = nextafter (lo, -INFINITY);
          if (edge_to_centre_row (c, n, j) == q[j])
            break;
          c[j] = hi = nextafter (hi, INFINITY);
          if (edge_to_centre_row (c, n, j) == q[j])
            break;
        }
      if (step == 16)
        c[j] = start;
    }
}

/* Parses ChannelData into m->counts / m->n_channels. */
static int
read_channels (const n42_reader *r, const xmlNode *cd, gs_measurement *m)
{
  char *s, *comp;
  const char *p;
  int oom = 0, cz = 0, rc = GS_OK;
  double *v = NULL;
  size_t n = 0, cap = 0, idx = 0;

  comp = attr (cd, "compressionCode", &oom);
  if (!comp && !oom)
    comp = attr (cd, "Compression", &oom);
  if (oom)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  if (comp)
    {
      trim (comp);
      if (strcmp (comp, "CountedZeroes") == 0)
        cz = 1;
      else if (comp[0] && strcmp (comp, "None") != 0)
        rc = gs_error (GS_EUNSUPPORTED,
                       "%s: line %ld: ChannelData compression \"%.40s\" is "
                       "not supported (None or CountedZeroes)",
                       r->name, line_of (cd), comp);
      free (comp);
      if (rc != GS_OK)
        return rc;
    }
  rc = text_of (r, cd, &s);
  if (rc != GS_OK)
    return rc;
  p = s;
  for (;;)
    {
      const char *q;
      double x, run = 1.0;
      while (is_space (*p))
        p++;
      if (!*p)
        break;
      q = p;
      while (*q && !is_space (*q))
        q++;
      idx++;
      if (parse_span (p, (size_t)(q - p), &x) != GS_OK || x < 0)
        {
          rc = gs_error (GS_EFORMAT,
                         "%s: line %ld: ChannelData value %zu \"%.*s\" is "
                         "not a finite non-negative number",
                         r->name, line_of (cd), idx,
                         (int)((q - p) > 40 ? 40 : (q - p)), p);
          break;
        }
      p = q;
      if (cz && x == 0)
        {
          while (is_space (*p))
            p++;
          q = p;
          while (*q && !is_space (*q))
            q++;
          idx++;
          if (q == p || parse_span (p, (size_t)(q - p), &run) != GS_OK
              || run < 0 || run != floor (run))
            {
              rc = gs_error (GS_EFORMAT,
                             "%s: line %ld: CountedZeroes: the zero at "
                             "value %zu must be followed by a whole "
                             "number of zeros, not \"%.*s\"",
                             r->name, line_of (cd), idx - 1,
                             (int)((q - p) > 40 ? 40 : (q - p)), p);
              break;
            }
          p = q;
        }
      if (run > (double)(GS_FORMAT_MAX_CHANNELS - n))
        {
          if (cz && x == 0)
            rc = gs_error (GS_ENOMEM,
                           "%s: line %ld: CountedZeroes run of %.17g zeros "
                           "at value %zu takes the spectrum past %zu "
                           "channels",
                           r->name, line_of (cd), run, idx,
                           (size_t)GS_FORMAT_MAX_CHANNELS);
          else
            rc = gs_error (GS_ENOMEM,
                           "%s: line %ld: ChannelData has more than %zu "
                           "channels",
                           r->name, line_of (cd),
                           (size_t)GS_FORMAT_MAX_CHANNELS);
          break;
        }
      if (n + (size_t)run > cap)
        {
          size_t nc = cap ? 2 * cap : 1024;
          double *nv;
          while (nc < n + (size_t)run)
            nc *= 2;
          if (nc > GS_FORMAT_MAX_CHANNELS)
            nc = GS_FORMAT_MAX_CHANNELS;
          nv = realloc (v, nc * sizeof *v);
          if (!nv)
            {
              rc = gs_error (GS_ENOMEM, "%s: out of memory for %zu channels",
                             r->name, nc);
              break;
            }
          v = nv;
          cap = nc;
        }
      if (cz && x == 0)
        {
          memset (v + n, 0, (size_t)run * sizeof *v);
          n += (size_t)run;
        }
      else
        v[n++] = x;
    }
  free (s);
  if (rc == GS_OK && n == 0)
    rc = gs_error (GS_EFORMAT, "%s: line %ld: ChannelData holds no channels",
                   r->name, line_of (cd));
  if (rc != GS_OK)
    {
      free (v);
      return rc;
    }
  m->counts = v;
  m->n_channels = n;
  return GS_OK;
}

/* Sets m's centre-convention calibration from lower-edge polynomial
 * coefficients. */
static void
set_edge_poly (gs_measurement *m, const double *c, size_t n)
{
  edge_to_centre (c, n, m->coefs);
  m->n_coefs = n;
}

/* ---- N42-2012 --------------------------------------------------------- */

static int
collect_2012 (n42_reader *r)
{
  xmlNode *c;
  size_t nc = 0, nd = 0;
  for (c = r->root->children; c; c = c->next)
    {
      if (name_is (c, "EnergyCalibration"))
        nc++;
      else if (name_is (c, "RadDetectorInformation"))
        nd++;
    }
  if (nc > N42_MAX_CALIBRATIONS || nd > N42_MAX_CALIBRATIONS)
    return gs_error (GS_EFORMAT,
                     "%s: %zu EnergyCalibration and %zu "
                     "RadDetectorInformation elements; at most %d of each",
                     r->name, nc, nd, N42_MAX_CALIBRATIONS);
  r->cals = calloc (nc + 1, sizeof *r->cals);
  r->dets = calloc (nd + 1, sizeof *r->dets);
  if (!r->cals || !r->dets)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  for (c = r->root->children; c; c = c->next)
    {
      if (name_is (c, "EnergyCalibration"))
        r->cals[r->n_cals++] = c;
      else if (name_is (c, "RadDetectorInformation"))
        r->dets[r->n_dets++] = c;
      else if (name_is (c, "RadMeasurement"))
        {
          xmlNode *sp;
          for (sp = child (c, "Spectrum"); sp;
               sp = child_after (c, sp, "Spectrum"))
            if (xmlHasProp (sp, (const xmlChar *)"energyCalibrationReference"))
              r->any_cal_ref = 1;
        }
    }
  return GS_OK;
}

/* The element among list[0..n) whose attribute `key` is `id`. */
static int
find_by_id (const n42_reader *r, xmlNode **list, size_t n, const char *key,
            const char *id, xmlNode **out)
{
  size_t i;
  *out = NULL;
  for (i = 0; i < n; i++)
    {
      int oom = 0;
      char *v = attr (list[i], key, &oom);
      int same;
      if (oom)
        return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
      same = v && strcmp (trim (v), id) == 0;
      free (v);
      if (same)
        {
          *out = list[i];
          return GS_OK;
        }
    }
  return GS_OK;
}

static int
read_cal_2012 (const n42_reader *r, const xmlNode *sp, gs_measurement *m)
{
  int oom = 0, rc;
  char *ref = attr (sp, "energyCalibrationReference", &oom);
  xmlNode *ec = NULL, *cv;
  double c[GS_FORMAT_MAX_COEFS];
  size_t nc;
  if (oom)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  if (ref && *trim (ref))
    {
      rc = find_by_id (r, r->cals, r->n_cals, "id", ref, &ec);
      if (rc == GS_OK && !ec)
        rc = gs_error (GS_EFORMAT,
                       "%s: line %ld: Spectrum refers to EnergyCalibration "
                       "\"%.60s\", which the file does not define",
                       r->name, line_of (sp), ref);
      free (ref);
      if (rc != GS_OK)
        return rc;
    }
  else
    {
      free (ref);
      if (r->n_cals == 1 && !r->any_cal_ref)
        ec = r->cals[0];
    }
  if (!ec)
    return GS_OK;
  cv = child (ec, "CoefficientValues");
  if (!cv)
    return gs_error (GS_EUNSUPPORTED,
                     "%s: line %ld: EnergyCalibration gives no "
                     "CoefficientValues (energy values or boundaries are "
                     "not supported)",
                     r->name, line_of (ec));
  rc = read_coefs (r, cv, c, &nc);
  if (rc != GS_OK)
    return rc;
  set_edge_poly (m, c, nc);
  return GS_OK;
}

static int
read_detector_2012 (const n42_reader *r, const xmlNode *sp, gs_measurement *m)
{
  int oom = 0, rc = GS_OK;
  char *ref = attr (sp, "radDetectorInformationReference", &oom);
  xmlNode *di = NULL;
  if (oom)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  if (ref && *trim (ref))
    rc = find_by_id (r, r->dets, r->n_dets, "id", ref, &di);
  else if (r->n_dets == 1)
    {
      di = r->dets[0];
      free (ref);
      ref = attr (di, "id", &oom);
      if (oom)
        return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
      if (ref)
        trim (ref);
    }
  if (rc == GS_OK && di)
    {
      char *dn = NULL;
      rc = optional_text (r, child (di, "RadDetectorName"), &dn);
      if (dn)
        {
          free (ref);
          ref = dn;
        }
    }
  if (rc != GS_OK || (ref && !*ref))
    {
      free (ref);
      ref = NULL;
    }
  m->detector = ref;
  return rc;
}

static int
read_2012 (n42_reader *r, gs_specfile **out)
{
  xmlNode *rm, *sp;
  size_t total = 0, i = 0;
  gs_specfile *f;
  int rc;

  for (rm = child (r->root, "RadMeasurement"); rm;
       rm = child_after (r->root, rm, "RadMeasurement"))
    for (sp = child (rm, "Spectrum"); sp; sp = child_after (rm, sp, "Spectrum"))
      if (++total > GS_FORMAT_MAX_MEASUREMENTS)
        return gs_error (GS_ENOMEM,
                         "%s: more than %d spectra (line %ld); that is the "
                         "limit",
                         r->name, GS_FORMAT_MAX_MEASUREMENTS, line_of (sp));
  if (total == 0)
    return gs_error (GS_EFORMAT,
                     "%s: no RadMeasurement/Spectrum element: nothing to read",
                     r->name);
  rc = collect_2012 (r);
  if (rc != GS_OK)
    return rc;
  f = gs_specfile_alloc (total);
  if (!f)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  for (rm = child (r->root, "RadMeasurement"); rm && rc == GS_OK;
       rm = child_after (r->root, rm, "RadMeasurement"))
    for (sp = child (rm, "Spectrum"); sp && rc == GS_OK;
         sp = child_after (rm, sp, "Spectrum"))
      {
        gs_measurement *m = &f->m[i++];
        xmlNode *cd = child (sp, "ChannelData");
        if (!cd)
          {
            rc = gs_error (GS_EFORMAT,
                           "%s: line %ld: Spectrum has no "
                           "ChannelData",
                           r->name, line_of (sp));
            break;
          }
        rc = read_start (r, child (rm, "StartDateTime"), m->start_time);
        if (rc == GS_OK)
          rc = read_duration (r, child (rm, "RealTimeDuration"), &m->real_time);
        if (rc == GS_OK)
          rc = read_duration (r, child (sp, "LiveTimeDuration"), &m->live_time);
        if (rc == GS_OK)
          rc = read_channels (r, cd, m);
        if (rc == GS_OK)
          rc = read_cal_2012 (r, sp, m);
        if (rc == GS_OK)
          rc = read_detector_2012 (r, sp, m);
        if (rc == GS_OK)
          rc = optional_text (r, child (sp, "Remark"), &m->title);
        if (rc == GS_OK && !m->title)
          rc = optional_text (r, child (rm, "Remark"), &m->title);
        if (rc == GS_OK && !m->title)
          rc = optional_text (r, child (r->root, "Remark"), &m->title);
      }
  if (rc != GS_OK)
    {
      gs_specfile_free (f);
      return rc;
    }
  *out = f;
  return GS_OK;
}

/* ---- N42-2006 --------------------------------------------------------- */

/* Collects Spectrum elements (not descending into them) and Calibration
 * elements below n.  The parser bounds the depth (256). */
static int
walk_2006 (n42_reader *r, xmlNode *n, xmlNode ***spec, size_t *ns, size_t *cap)
{
  xmlNode *c;
  for (c = n->children; c; c = c->next)
    {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (name_is (c, "Calibration"))
        {
          if (r->n_cals >= N42_MAX_CALIBRATIONS)
            return gs_error (GS_EFORMAT,
                             "%s: line %ld: more than %d "
                             "Calibration elements",
                             r->name, line_of (c), N42_MAX_CALIBRATIONS);
          if (!r->cals)
            {
              r->cals = calloc (N42_MAX_CALIBRATIONS, sizeof *r->cals);
              if (!r->cals)
                return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
            }
          r->cals[r->n_cals++] = c;
          continue;
        }
      if (name_is (c, "Spectrum"))
        {
          if (*ns >= GS_FORMAT_MAX_MEASUREMENTS)
            return gs_error (GS_ENOMEM,
                             "%s: more than %d spectra (line %ld); that is "
                             "the limit",
                             r->name, GS_FORMAT_MAX_MEASUREMENTS, line_of (c));
          if (*ns == *cap)
            {
              size_t nc = *cap ? 2 * *cap : 16;
              xmlNode **nv = realloc (*spec, nc * sizeof **spec);
              if (!nv)
                return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
              *spec = nv;
              *cap = nc;
            }
          (*spec)[(*ns)++] = c;
          for (xmlNode *cc = c->children; cc; cc = cc->next)
            if (name_is (cc, "Calibration"))
              {
                if (r->n_cals >= N42_MAX_CALIBRATIONS)
                  return gs_error (GS_EFORMAT,
                                   "%s: line %ld: more than %d "
                                   "Calibration elements",
                                   r->name, line_of (cc), N42_MAX_CALIBRATIONS);
                if (!r->cals)
                  {
                    r->cals = calloc (N42_MAX_CALIBRATIONS, sizeof *r->cals);
                    if (!r->cals)
                      return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
                  }
                r->cals[r->n_cals++] = cc;
              }
          continue;
        }
      {
        int rc = walk_2006 (r, c, spec, ns, cap);
        if (rc != GS_OK)
          return rc;
      }
    }
  return GS_OK;
}

/* The first child named `local` of n or of its nearest ancestor that
 * has one. */
static xmlNode *
find_up (xmlNode *n, const char *local)
{
  for (; n && n->type == XML_ELEMENT_NODE; n = n->parent)
    {
      xmlNode *c = child (n, local);
      if (c)
        return c;
    }
  return NULL;
}

/* 1 when a Calibration element is an energy calibration (Type="Energy"
 * or no Type). */
static int
is_energy_cal (const n42_reader *r, const xmlNode *c, int *rc)
{
  int oom = 0, yes;
  char *t = attr (c, "Type", &oom);
  if (oom)
    {
      *rc = gs_error (GS_ENOMEM, "%s: out of memory", r->name);
      return 0;
    }
  yes = !t || strcmp (trim (t), "Energy") == 0;
  free (t);
  return yes;
}

/* The energy Calibration of a 2006 Spectrum: its own, then one its
 * CalibrationIDs name, then an ancestor's, then the file's only one. */
static int
find_cal_2006 (const n42_reader *r, xmlNode *sp, xmlNode **out)
{
  xmlNode *n, *c;
  int rc = GS_OK, oom = 0;
  char *ids;
  size_t i, n_energy = 0;
  xmlNode *only = NULL;

  *out = NULL;
  for (c = child (sp, "Calibration"); c; c = child_after (sp, c, "Calibration"))
    if (is_energy_cal (r, c, &rc))
      {
        *out = c;
        return GS_OK;
      }
    else if (rc != GS_OK)
      return rc;
  ids = attr (sp, "CalibrationIDs", &oom);
  if (oom)
    return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
  if (ids)
    {
      char *p = ids;
      while (*p && !*out && rc == GS_OK)
        {
          char *q;
          while (is_space (*p))
            p++;
          q = p;
          while (*q && !is_space (*q))
            q++;
          if (q == p)
            break;
          {
            char save = *q;
            xmlNode *hit = NULL;
            *q = '\0';
            rc = find_by_id (r, r->cals, r->n_cals, "ID", p, &hit);
            if (rc == GS_OK && hit && is_energy_cal (r, hit, &rc))
              *out = hit;
            *q = save;
          }
          p = q;
        }
      free (ids);
      if (rc != GS_OK || *out)
        return rc;
    }
  for (n = sp->parent; n && n->type == XML_ELEMENT_NODE; n = n->parent)
    for (c = child (n, "Calibration"); c; c = child_after (n, c, "Calibration"))
      if (is_energy_cal (r, c, &rc))
        {
          *out = c;
          return GS_OK;
        }
      else if (rc != GS_OK)
        return rc;
  for (i = 0; i < r->n_cals; i++)
    if (is_energy_cal (r, r->cals[i], &rc))
      {
        n_energy++;
        only = r->cals[i];
      }
    else if (rc != GS_OK)
      return rc;
  if (n_energy == 1)
    *out = only;
  return GS_OK;
}

static int
read_cal_2006 (const n42_reader *r, xmlNode *sp, gs_measurement *m)
{
  xmlNode *cal, *eq, *co;
  char *model, *units;
  int rc, oom = 0, frf = 0;
  double c[GS_FORMAT_MAX_COEFS], scale = 1.0;
  size_t nc, k;

  rc = find_cal_2006 (r, sp, &cal);
  if (rc != GS_OK || !cal)
    return rc;
  eq = child (cal, "Equation");
  if (!eq)
    return gs_error (GS_EUNSUPPORTED,
                     "%s: line %ld: energy Calibration has no Equation "
                     "(point lists are not supported)",
                     r->name, line_of (cal));
  model = attr (eq, "Model", &oom);
  units = oom ? NULL : attr (cal, "EnergyUnits", &oom);
  if (oom)
    {
      free (model);
      return gs_error (GS_ENOMEM, "%s: out of memory", r->name);
    }
  if (units && strcmp (trim (units), "MeV") == 0)
    scale = 1000.0;
  else if (units && units[0] && strcmp (units, "keV") != 0)
    rc = gs_error (GS_EUNSUPPORTED,
                   "%s: line %ld: EnergyUnits \"%.20s\" (keV or MeV)", r->name,
                   line_of (cal), units);
  if (rc == GS_OK && model && strcmp (trim (model), "FullRangeFraction") == 0)
    frf = 1;
  else if (rc == GS_OK && model && model[0]
           && strcmp (model, "Polynomial") != 0)
    rc = gs_error (GS_EUNSUPPORTED,
                   "%s: line %ld: calibration Equation Model \"%.40s\" is not "
                   "supported (Polynomial or FullRangeFraction)",
                   r->name, line_of (eq), model);
  free (model);
  free (units);
  if (rc != GS_OK)
    return rc;
  co = child (eq, "Coefficients");
  if (!co)
    return gs_error (GS_EFORMAT, "%s: line %ld: Equation has no Coefficients",
                     r->name, line_of (eq));
  rc = read_coefs (r, co, c, &nc);
  if (rc != GS_OK)
    return rc;
  for (k = 0; k < nc; k++)
    c[k] *= scale;
  if (frf)
    {
      double nch = (double)m->n_channels, p = 1.0;
      if (nc > 5)
        return gs_error (GS_EFORMAT,
                         "%s: line %ld: FullRangeFraction takes at most 5 "
                         "coefficients, not %zu",
                         r->name, line_of (co), nc);
      if (nc == 5 && c[4] != 0)
        return gs_error (GS_EUNSUPPORTED,
                         "%s: line %ld: FullRangeFraction low-energy term "
                         "c4 = %g / (1 + 60x) is not supported (only "
                         "polynomial calibrations)",
                         r->name, line_of (co), c[4]);
      if (nc == 5)
        nc = 4;
      for (k = 0; k < nc; k++)
        {
          c[k] /= p;
          p *= nch;
        }
    }
  set_edge_poly (m, c, nc);
  return GS_OK;
}

static int
read_2006 (n42_reader *r, gs_specfile **out)
{
  xmlNode **spec = NULL;
  size_t ns = 0, cap = 0, i;
  gs_specfile *f = NULL;
  int rc;

  rc = walk_2006 (r, r->root, &spec, &ns, &cap);
  if (rc == GS_OK && ns == 0)
    rc = gs_error (GS_EFORMAT, "%s: no Spectrum element: nothing to read",
                   r->name);
  if (rc == GS_OK)
    {
      f = gs_specfile_alloc (ns);
      if (!f)
        rc = gs_error (GS_ENOMEM, "%s: out of memory", r->name);
    }
  for (i = 0; rc == GS_OK && i < ns; i++)
    {
      xmlNode *sp = spec[i], *cd = child (sp, "ChannelData");
      gs_measurement *m = &f->m[i];
      int oom = 0;
      if (!cd)
        {
          rc = gs_error (GS_EFORMAT,
                         "%s: line %ld: Spectrum has no ChannelData", r->name,
                         line_of (sp));
          break;
        }
      rc = read_start (r, find_up (sp, "StartTime"), m->start_time);
      if (rc == GS_OK)
        rc = read_duration (r, find_up (sp, "RealTime"), &m->real_time);
      if (rc == GS_OK)
        rc = read_duration (r, find_up (sp, "LiveTime"), &m->live_time);
      if (rc == GS_OK)
        rc = read_channels (r, cd, m);
      if (rc == GS_OK)
        rc = read_cal_2006 (r, sp, m);
      if (rc == GS_OK)
        {
          m->detector = attr (sp, "Detector", &oom);
          if (oom)
            rc = gs_error (GS_ENOMEM, "%s: out of memory", r->name);
          else if (m->detector && !*trim (m->detector))
            {
              free (m->detector);
              m->detector = NULL;
            }
        }
      if (rc == GS_OK)
        rc = optional_text (r, find_up (sp, "Remark"), &m->title);
    }
  free (spec);
  if (rc != GS_OK)
    {
      gs_specfile_free (f);
      return rc;
    }
  *out = f;
  return GS_OK;
}

int
gs__read_n42 (const char *buf, size_t len, const char *name, gs_specfile **out)
{
  xmlDoc *doc = NULL;
  n42_reader r;
  gs_specfile *f = NULL;
  int rc;

  if (out)
    *out = NULL;
  if (!name)
    name = "(n42)";
  if (!out || (!buf && len > 0))
    return gs_error (GS_EINVAL, "%s: N42 reader given no buffer", name);
  if (len > GS_FORMAT_MAX_BYTES)
    return gs_error (GS_ENOMEM, "%s: %zu bytes is past the %zu-byte limit",
                     name, len, (size_t)GS_FORMAT_MAX_BYTES);
  rc = parse_doc (buf ? buf : "", len, name, &doc);
  if (rc != GS_OK)
    return rc;
  memset (&r, 0, sizeof r);
  r.name = name;
  r.root = xmlDocGetRootElement (doc);
  if (name_is (r.root, "RadInstrumentData"))
    rc = read_2012 (&r, &f);
  else if (name_is (r.root, "N42InstrumentData"))
    rc = read_2006 (&r, &f);
  else
    rc = gs_error (GS_EFORMAT,
                   "%s: root element <%.40s> is neither RadInstrumentData "
                   "(N42-2012) nor N42InstrumentData (N42-2006)",
                   name, r.root ? (const char *)r.root->name : "");
  free (r.cals);
  free (r.dets);
  xmlFreeDoc (doc);
  if (rc == GS_OK)
    {
      f->format = GS_FORMAT_N42;
      f->source = gs__strdup (name);
      if (!f->source)
        {
          gs_specfile_free (f);
          return gs_error (GS_ENOMEM, "%s: out of memory", name);
        }
      *out = f;
    }
  return rc;
}

/* ---- Writer ------------------------------------------------------------ */

/* Length of the valid UTF-8 XML character at s (0 when invalid). */
static size_t
utf8_char (const unsigned char *s)
{
  unsigned char a = s[0];
  if (a < 0x80)
    return (a >= 0x20 || a == '\t' || a == '\n' || a == '\r') ? 1 : 0;
  if (a >= 0xC2 && a <= 0xDF)
    return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (a >= 0xE0 && a <= 0xEF)
    {
      unsigned lo = (a == 0xE0) ? 0xA0 : 0x80, hi = (a == 0xED) ? 0x9F : 0xBF;
      if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
        return 0;
      if (a == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 0; /* U+FFFE, U+FFFF are not XML characters */
      return 3;
    }
  if (a >= 0xF0 && a <= 0xF4)
    {
      unsigned lo = (a == 0xF0) ? 0x90 : 0x80, hi = (a == 0xF4) ? 0x8F : 0xBF;
      if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80
          || (s[3] & 0xC0) != 0x80)
        return 0;
      return 4;
    }
  return 0;
}

/* Writes s as element content: markup escaped, CR as a character
 * reference, bytes that are not XML characters in UTF-8 as '?'. */
static void
put_text (FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  while (*p)
    {
      size_t n = utf8_char (p);
      if (n == 0)
        {
          fputc ('?', out);
          p++;
          continue;
        }
      if (*p == '&')
        fputs ("&amp;", out);
      else if (*p == '<')
        fputs ("&lt;", out);
      else if (*p == '>')
        fputs ("&gt;", out);
      else if (*p == '\r')
        fputs ("&#13;", out);
      else
        fwrite (p, 1, n, out);
      p += n;
    }
}

/* v in the fewest of 15, 16 or 17 significant digits that read back to
 * v ("%.*g" or, fixed, "%.*f"). */
static void
fmt_double (char *buf, size_t size, double v, int fixed)
{
  int p;
  for (p = 15; p <= 17; p++)
    {
      double back;
      if (fixed)
        {
          int prec = v == 0 ? 0 : p - 1 - (int)floor (log10 (fabs (v)));
          if (prec < 0)
            prec = 0;
          if (prec > 345)
            prec = 345;
          snprintf (buf, size, "%.*f", prec, v);
          if (strchr (buf, '.'))
            {
              size_t n = strlen (buf);
              while (n > 0 && buf[n - 1] == '0')
                buf[--n] = '\0';
              if (n > 0 && buf[n - 1] == '.')
                buf[--n] = '\0';
            }
        }
      else
        snprintf (buf, size, "%.*g", p, v);
      if (gs__parse_double (buf, &back) == GS_OK && back == v)
        return;
    }
}

/* Seconds as an xs:duration that reads back to the same double. */
static void
put_duration (FILE *out, const char *elem, double v)
{
  char buf[400];
  if (isnan (v))
    return;
  fmt_double (buf, sizeof buf, v, 1);
  fprintf (out, "<%s>PT%sS</%s>", elem, buf, elem);
}

static int
same_cal (const gs_measurement *a, const gs_measurement *b)
{
  size_t k;
  if (a->n_coefs != b->n_coefs)
    return 0;
  for (k = 0; k < a->n_coefs; k++)
    if (memcmp (&a->coefs[k], &b->coefs[k], sizeof (double)) != 0)
      return 0;
  return 1;
}

static int
same_det (const gs_measurement *a, const gs_measurement *b)
{
  if (!a->detector || !b->detector)
    return a->detector == b->detector;
  return strcmp (a->detector, b->detector) == 0;
}

static int
check_measurement (const gs_measurement *m, size_t i)
{
  size_t k;
  char tmp[32];
  if (m->n_channels == 0 || m->n_channels > GS_FORMAT_MAX_CHANNELS
      || !m->counts)
    return gs_error (GS_EINVAL,
                     "N42 writer: measurement %zu has %zu channels (1 to %zu)",
                     i + 1, m->n_channels, (size_t)GS_FORMAT_MAX_CHANNELS);
  for (k = 0; k < m->n_channels; k++)
    if (!isfinite (m->counts[k]) || m->counts[k] < 0)
      return gs_error (GS_EINVAL,
                       "N42 writer: measurement %zu, channel %zu: count %g "
                       "is not finite and >= 0",
                       i + 1, k, m->counts[k]);
  if (m->n_coefs > GS_FORMAT_MAX_COEFS)
    return gs_error (GS_EINVAL,
                     "N42 writer: measurement %zu has %zu calibration "
                     "coefficients (at most %d)",
                     i + 1, m->n_coefs, GS_FORMAT_MAX_COEFS);
  for (k = 0; k < m->n_coefs; k++)
    if (!isfinite (m->coefs[k]))
      return gs_error (GS_EINVAL,
                       "N42 writer: measurement %zu: calibration "
                       "coefficient %zu is not finite",
                       i + 1, k);
  if ((!isnan (m->live_time) && !(m->live_time >= 0 && isfinite (m->live_time)))
      || (!isnan (m->real_time)
          && !(m->real_time >= 0 && isfinite (m->real_time))))
    return gs_error (GS_EINVAL,
                     "N42 writer: measurement %zu: live time %g / real time "
                     "%g must be finite and >= 0 (or NaN: none)",
                     i + 1, m->live_time, m->real_time);
  if (memchr (m->start_time, '\0', sizeof m->start_time) == NULL
      || (m->start_time[0] && parse_datetime (m->start_time, tmp) != GS_OK))
    return gs_error (GS_EINVAL,
                     "N42 writer: measurement %zu: start time \"%.31s\" is "
                     "not YYYY-MM-DDThh:mm:ss[Z|+hh:mm]",
                     i + 1, m->start_time);
  return GS_OK;
}

int
gs__write_n42 (const gs_specfile *f, FILE *out)
{
  size_t *cal_id = NULL, *det_id = NULL, n_cal = 0, n_det = 0, i, j, k;
  int rc = GS_OK;

  if (!f || !out || f->n == 0 || !f->m)
    return gs_error (GS_EINVAL, "N42 writer: no measurements to write");
  if (f->n > GS_FORMAT_MAX_MEASUREMENTS)
    return gs_error (GS_EINVAL, "N42 writer: %zu measurements (at most %d)",
                     f->n, GS_FORMAT_MAX_MEASUREMENTS);
  for (i = 0; i < f->n; i++)
    if ((rc = check_measurement (&f->m[i], i)) != GS_OK)
      return rc;
  cal_id = calloc (f->n, sizeof *cal_id);
  det_id = calloc (f->n, sizeof *det_id);
  if (!cal_id || !det_id)
    {
      free (cal_id);
      free (det_id);
      return gs_error (GS_ENOMEM, "N42 writer: out of memory");
    }
  /* Distinct calibrations and detectors, numbered from 1 in order of
   * first use (cal_id 0: none). */
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      for (j = 0; j < i; j++)
        if (same_det (&f->m[j], m))
          break;
      det_id[i] = j < i ? det_id[j] : ++n_det;
      if (m->n_coefs == 0)
        continue;
      for (j = 0; j < i; j++)
        if (f->m[j].n_coefs && same_cal (&f->m[j], m))
          break;
      cal_id[i] = j < i ? cal_id[j] : ++n_cal;
    }

  fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<RadInstrumentData xmlns=\"" N42_NS_2012 "\">\n"
         "  <RadInstrumentDataCreatorName>gspec " GSPEC_VERSION
         "</RadInstrumentDataCreatorName>\n"
         "  <RadInstrumentInformation id=\"RadInstrumentInformation-1\">\n"
         "    <RadInstrumentManufacturerName>Unknown"
         "</RadInstrumentManufacturerName>\n"
         "    <RadInstrumentModelName>Unknown</RadInstrumentModelName>\n"
         "    <RadInstrumentClassCode>Other</RadInstrumentClassCode>\n"
         "  </RadInstrumentInformation>\n",
         out);
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      for (j = 0; j < i; j++)
        if (det_id[j] == det_id[i])
          break;
      if (j < i)
        continue;
      fprintf (out, "  <RadDetectorInformation id=\"Detector-%zu\">\n",
               det_id[i]);
      if (m->detector)
        {
          fputs ("    <RadDetectorName>", out);
          put_text (out, m->detector);
          fputs ("</RadDetectorName>\n", out);
        }
      fputs ("    <RadDetectorCategoryCode>Gamma</RadDetectorCategoryCode>\n"
             "    <RadDetectorKindCode>Other</RadDetectorKindCode>\n"
             "  </RadDetectorInformation>\n",
             out);
    }
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      double c[GS_FORMAT_MAX_COEFS];
      if (cal_id[i] == 0)
        continue;
      for (j = 0; j < i; j++)
        if (cal_id[j] == cal_id[i])
          break;
      if (j < i)
        continue;
      centre_to_edge (m->coefs, m->n_coefs, c);
      fprintf (out,
               "  <EnergyCalibration id=\"EnergyCalibration-%zu\">\n"
               "    <CoefficientValues>",
               cal_id[i]);
      for (k = 0; k < m->n_coefs; k++)
        {
          char num[40];
          fmt_double (num, sizeof num, c[k], 0);
          fprintf (out, "%s%s", k ? " " : "", num);
        }
      fputs ("</CoefficientValues>\n  </EnergyCalibration>\n", out);
    }
  for (i = 0; i < f->n; i++)
    {
      const gs_measurement *m = &f->m[i];
      fprintf (out, "  <RadMeasurement id=\"RadMeasurement-%zu\">\n", i + 1);
      if (m->title)
        {
          fputs ("    <Remark>", out);
          put_text (out, m->title);
          fputs ("</Remark>\n", out);
        }
      fputs ("    <MeasurementClassCode>Foreground</MeasurementClassCode>\n",
             out);
      if (m->start_time[0])
        {
          fputs ("    <StartDateTime>", out);
          put_text (out, m->start_time);
          fputs ("</StartDateTime>\n", out);
        }
      if (!isnan (m->real_time))
        {
          fputs ("    ", out);
          put_duration (out, "RealTimeDuration", m->real_time);
          fputc ('\n', out);
        }
      fprintf (out,
               "    <Spectrum id=\"Spectrum-%zu\" "
               "radDetectorInformationReference=\"Detector-%zu\"",
               i + 1, det_id[i]);
      if (cal_id[i])
        fprintf (out, " energyCalibrationReference=\"EnergyCalibration-%zu\"",
                 cal_id[i]);
      fputs (">\n", out);
      if (!isnan (m->live_time))
        {
          fputs ("      ", out);
          put_duration (out, "LiveTimeDuration", m->live_time);
          fputc ('\n', out);
        }
      fputs ("      <ChannelData>", out);
      for (k = 0; k < m->n_channels; k++)
        {
          char num[40];
          fmt_double (num, sizeof num, m->counts[k], 0);
          fprintf (out, "%s%s", k == 0 ? "" : (k % 16 == 0 ? "\n" : " "), num);
        }
      fputs ("</ChannelData>\n    </Spectrum>\n  </RadMeasurement>\n", out);
    }
  fputs ("</RadInstrumentData>\n", out);
  free (cal_id);
  free (det_id);
  if (ferror (out))
    return gs_error (GS_EIO, "N42 writer: write error");
  return GS_OK;
}
