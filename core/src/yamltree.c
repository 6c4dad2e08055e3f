/* YAML documents as trees with source positions (libyaml event API),
 * ${VAR} expansion, command-line overrides and schema checks.
 *
 * The tree is built from the event stream with an explicit stack, so a
 * hostile document costs no C recursion while parsing; nesting deeper
 * than GS__YAML_MAX_DEPTH is refused, which also bounds the recursion of
 * the checker and of gs_ynode_free. */
#include "yamltree.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "gspec/status.h"
#include "util.h"

/* Deepest nesting of mappings and sequences a tree may have. */
#define GS__YAML_MAX_DEPTH 64
/* How many bytes of a value or key an error message quotes. */
#define GS__YAML_SHOW 60

static const char yset_file[] = "--set";

/* ---- Nodes ------------------------------------------------------------ */

/* A node.  When `own_name` is given the node is a root: the name is
 * stored after the struct in the same block, so freeing the root frees
 * the file name that every node of the tree points to. */
static gs_ynode *
ynode_new (gs_ynode_kind kind, const char *file, size_t line, size_t column,
           const char *own_name)
{
  size_t extra = own_name ? strlen (own_name) + 1 : 0;
  gs_ynode *n = calloc (1, sizeof *n + extra);
  if (!n)
    return NULL;
  n->kind = kind;
  if (own_name)
    {
      char *copy = (char *)(n + 1);
      memcpy (copy, own_name, extra);
      n->file = copy;
    }
  else
    n->file = file;
  n->line = line;
  n->column = column;
  return n;
}

/* The capacity of the item arrays of a node holding n entries. */
static size_t
ynode_cap (size_t n)
{
  size_t c = 4;
  if (n == 0)
    return 0;
  while (c < n)
    c *= 2;
  return c;
}

/* Appends an item; for a mapping, also `key` (which the node then owns)
 * and its position.  On failure nothing changes and the caller keeps
 * `key` and `item`. */
static int
ynode_append (gs_ynode *p, char *key, size_t kline, size_t kcol,
              gs_ynode *item)
{
  size_t n = p->n;
  if (n + 1 > ynode_cap (n))
    {
      size_t c = ynode_cap (n + 1);
      gs_ynode **items;
      if (c > SIZE_MAX / sizeof (size_t) / 2)
        return GS_ENOMEM;
      items = realloc (p->items, c * sizeof *items);
      if (!items)
        return GS_ENOMEM;
      p->items = items;
      if (p->kind == GS_YNODE_MAPPING)
        {
          char **keys;
          size_t *kl, *kc;
          keys = realloc (p->keys, c * sizeof *keys);
          if (!keys)
            return GS_ENOMEM;
          p->keys = keys;
          kl = realloc (p->key_line, c * sizeof *kl);
          if (!kl)
            return GS_ENOMEM;
          p->key_line = kl;
          kc = realloc (p->key_column, c * sizeof *kc);
          if (!kc)
            return GS_ENOMEM;
          p->key_column = kc;
        }
    }
  p->items[n] = item;
  if (p->kind == GS_YNODE_MAPPING)
    {
      p->keys[n] = key;
      p->key_line[n] = kline;
      p->key_column[n] = kcol;
    }
  p->n = n + 1;
  return GS_OK;
}

void
gs_ynode_free (gs_ynode *root)
{
  size_t i;
  if (!root)
    return;
  for (i = 0; i < root->n; i++)
    {
      gs_ynode_free (root->items[i]);
      if (root->keys)
        free (root->keys[i]);
    }
  free (root->items);
  free (root->keys);
  free (root->key_line);
  free (root->key_column);
  free (root->value);
  free (root);
}

gs_ynode *
gs_ynode_get (const gs_ynode *map, const char *key)
{
  size_t i;
  if (!map || !key || map->kind != GS_YNODE_MAPPING)
    return NULL;
  for (i = 0; i < map->n; i++)
    if (strcmp (map->keys[i], key) == 0)
      return map->items[i];
  return NULL;
}

void
gs_ynode_where (const gs_ynode *n, char *buf, size_t size)
{
  if (!buf || size == 0)
    return;
  if (!n)
    snprintf (buf, size, "?");
  else if (n->line == 0)
    snprintf (buf, size, "%s", n->file ? n->file : "?");
  else
    snprintf (buf, size, "%s:%zu:%zu", n->file ? n->file : "?", n->line,
              n->column);
}

/* ---- Message helpers -------------------------------------------------- */

/* Quotes at most GS__YAML_SHOW bytes of s (cut on a UTF-8 boundary,
 * control characters shown as blanks) into buf as 'text' or 'text...'. */
static void
show_text (const char *s, char *buf, size_t size)
{
  size_t len = strlen (s), cut = len, i, o = 0;
  if (cut > GS__YAML_SHOW)
    {
      cut = GS__YAML_SHOW;
      while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    }
  if (size < 8)
    {
      if (size)
        buf[0] = '\0';
      return;
    }
  buf[o++] = '\'';
  for (i = 0; i < cut && o + 5 < size; i++)
    {
      unsigned char c = (unsigned char)s[i];
      buf[o++] = (c < 0x20 || c == 0x7F) ? ' ' : (char)c;
    }
  if (i < len)
    {
      memcpy (buf + o, "...", 3);
      o += 3;
    }
  buf[o++] = '\'';
  buf[o] = '\0';
}

static int
is_null_text (const char *s)
{
  return !s || !*s || strcmp (s, "~") == 0 || strcmp (s, "null") == 0
         || strcmp (s, "Null") == 0 || strcmp (s, "NULL") == 0;
}

/* What a node is, for "got ..." in messages. */
static void
show_node (const gs_ynode *n, char *buf, size_t size)
{
  if (n->kind == GS_YNODE_MAPPING)
    snprintf (buf, size, "a mapping");
  else if (n->kind == GS_YNODE_SEQUENCE)
    snprintf (buf, size, "a sequence");
  else if (n->plain && is_null_text (n->value))
    snprintf (buf, size, "an empty value");
  else
    show_text (n->value ? n->value : "", buf, size);
}

/* Shortest text that reads back as v. */
static void
fmt_real (double v, char *buf, size_t size)
{
  int prec;
  if (isinf (v))
    {
      snprintf (buf, size, v > 0 ? "inf" : "-inf");
      return;
    }
  for (prec = 1; prec < 17; prec++)
    {
      snprintf (buf, size, "%.*g", prec, v);
      if (strtod (buf, NULL) == v)
        return;
    }
  snprintf (buf, size, "%.17g", v);
}

/* An integer bound held in a double, printed exactly at the 64-bit
 * limits. */
static void
fmt_int_bound (double v, char *buf, size_t size)
{
  if (v >= 0x1p64)
    snprintf (buf, size, "18446744073709551615");
  else if (v <= -0x1p63)
    snprintf (buf, size, "-9223372036854775808");
  else if (v > -0x1p63 && v < 0x1p63 && (double)(long long)v == v)
    snprintf (buf, size, "%lld", (long long)v);
  else
    fmt_real (v, buf, size);
}

/* " in [min, max]", " >= min", " <= max" or "" (no bound). */
static void
fmt_range (double min, double max, int integer, char *buf, size_t size)
{
  char a[48], b[48];
  int has_min = !(min > max) && !(isinf (min) && min < 0) && min > -DBL_MAX;
  int has_max = !(min > max) && !(isinf (max) && max > 0) && max < DBL_MAX;
  if (integer)
    {
      fmt_int_bound (min, a, sizeof a);
      fmt_int_bound (max, b, sizeof b);
    }
  else
    {
      fmt_real (min, a, sizeof a);
      fmt_real (max, b, sizeof b);
    }
  if (has_min && has_max)
    snprintf (buf, size, " in [%s, %s]", a, b);
  else if (has_min)
    snprintf (buf, size, " >= %s", a);
  else if (has_max)
    snprintf (buf, size, " <= %s", b);
  else if (size)
    buf[0] = '\0';
}

/* Records "file:line:col: <message>" for a node; returns GS_ECONFIG. */
static int
node_error (const gs_ynode *n, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
node_error (const gs_ynode *n, const char *fmt, ...)
{
  char where[512];
  char *msg;
  va_list ap;
  va_start (ap, fmt);
  msg = gs__vasprintf (fmt, ap);
  va_end (ap);
  if (!msg)
    return gs_error (GS_ENOMEM, "out of memory");
  gs_ynode_where (n, where, sizeof where);
  gs_error (GS_ECONFIG, "%s: %s", where, msg);
  free (msg);
  return GS_ECONFIG;
}

/* Edit distance of two short strings, or SIZE_MAX when either is long. */
static size_t
edit_distance (const char *a, const char *b, size_t len_b)
{
  size_t row[65], i, j, la = strlen (a);
  if (la > 64 || len_b > 64)
    return SIZE_MAX;
  for (j = 0; j <= len_b; j++)
    row[j] = j;
  for (i = 1; i <= la; i++)
    {
      size_t diag = row[0];
      row[0] = i;
      for (j = 1; j <= len_b; j++)
        {
          size_t up = row[j];
          size_t best = diag + (a[i - 1] != b[j - 1]);
          if (up + 1 < best)
            best = up + 1;
          if (row[j - 1] + 1 < best)
            best = row[j - 1] + 1;
          row[j] = best;
          diag = up;
        }
    }
  return row[len_b];
}

/* Remembers `cand` (len bytes) when it is a closer match for `word`. */
static void
suggest (const char *word, const char *cand, size_t len, const char **best,
         size_t *best_len, size_t *best_d)
{
  size_t d = edit_distance (word, cand, len);
  size_t limit = strlen (word) / 3 + 1;
  if (limit > 3)
    limit = 3;
  if (d <= limit && d < *best_d)
    {
      *best = cand;
      *best_len = len;
      *best_d = d;
    }
}

/* ---- ${VAR} expansion ------------------------------------------------- */

static const char var_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789_";

/* Appends s[0..n) to b with "$$" read as "$". */
static void
append_dollars (gs__buf *b, const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    {
      gs__buf_append (b, s + i, 1);
      if (s[i] == '$' && i + 1 < n && s[i + 1] == '$')
        i++;
    }
}

int
gs_yaml_expand_vars (const char *in, char **out)
{
  gs__buf b;
  const char *s, *d;
  char shown[GS__YAML_SHOW + 8];
  int rc = GS_OK;
  if (!out)
    return gs_error (GS_EINVAL, "gs_yaml_expand_vars: NULL output");
  *out = NULL;
  if (!in)
    return gs_error (GS_EINVAL, "gs_yaml_expand_vars: NULL input");
  if (!strchr (in, '$'))
    {
      *out = gs__strdup (in);
      return *out ? GS_OK : gs_error (GS_ENOMEM, "out of memory");
    }
  gs__buf_init (&b);
  gs__buf_append (&b, "", 0);
  s = in;
  while (rc == GS_OK && (d = strchr (s, '$')) != NULL)
    {
      const char *name, *end, *value;
      size_t nlen;
      char *var;
      gs__buf_append (&b, s, (size_t)(d - s));
      if (d[1] == '$' || d[1] != '{')
        {
          /* "$$" is one '$'; a '$' not followed by '{' stays as it is. */
          gs__buf_append (&b, "$", 1);
          s = d + (d[1] == '$' ? 2 : 1);
          continue;
        }
      name = d + 2;
      nlen = strspn (name, var_chars);
      end = name + nlen;
      show_text (d, shown, sizeof shown);
      if (!strchr (name, '}'))
        {
          rc = gs_error (GS_ECONFIG,
                         "unterminated '${' at %s; close it with '}', or "
                         "write '$$' for a literal '$'",
                         shown);
          break;
        }
      if (nlen == 0 || isdigit ((unsigned char)name[0])
          || (*end != '}' && !(end[0] == ':' && end[1] == '-')))
        {
          rc = gs_error (GS_ECONFIG,
                         "invalid variable reference at %s; write ${NAME} "
                         "or ${NAME:-default} (NAME: letters, digits, '_', "
                         "not starting with a digit), or '$$' for a "
                         "literal '$'",
                         shown);
          break;
        }
      var = gs__strndup (name, nlen);
      if (!var)
        {
          rc = gs_error (GS_ENOMEM, "out of memory");
          break;
        }
      value = getenv (var);
      if (*end == '}')
        {
          if (!value)
            rc = gs_error (GS_ECONFIG,
                           "environment variable '%s' is not set (in "
                           "'${%s}'); set it, or give a default with "
                           "${%s:-value}",
                           var, var, var);
          else
            gs__buf_puts (&b, value);
          s = end + 1;
        }
      else
        {
          const char *def = end + 2;
          const char *close = strchr (def, '}');
          const char *nested = strstr (def, "${");
          if (nested && nested < close)
            rc = gs_error (GS_ECONFIG,
                           "the default of '${%s:-...}' contains '${'; "
                           "nested references are not supported",
                           var);
          else if (value && *value)
            gs__buf_puts (&b, value);
          else
            append_dollars (&b, def, (size_t)(close - def));
          s = close + 1;
        }
      free (var);
    }
  if (rc == GS_OK)
    gs__buf_puts (&b, s);
  if (rc == GS_OK && b.failed)
    rc = gs_error (GS_ENOMEM, "out of memory expanding variables");
  if (rc != GS_OK)
    {
      gs__buf_fini (&b);
      return rc;
    }
  *out = b.data;
  return GS_OK;
}

/* ---- Loading ---------------------------------------------------------- */

typedef struct yframe
{
  gs_ynode *node;
  const char *name;  /* key of this collection in its parent, or NULL */
  char *key;         /* MAPPING: key waiting for its value */
  size_t key_line, key_column;
  size_t *slots;     /* MAPPING: hash table of key index + 1 */
  size_t nslots;     /* a power of two, or 0 */
} yframe;

typedef struct yparser
{
  const char *name;           /* file name for messages */
  const unsigned char *text;  /* the whole input */
  size_t len;
  int flow_only;              /* a --set value: refuse block collections */
  gs_ynode *root;
  yframe stack[GS__YAML_MAX_DEPTH];
  size_t depth;
} yparser;

static int
yerr (const yparser *p, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* "name:line:col" (1-based), or for a --set value where in it. */
static void
ypos (const yparser *p, size_t line, size_t col, char *buf, size_t size)
{
  if (!p->flow_only)
    snprintf (buf, size, "%s:%zu:%zu", p->name, line, col);
  else if (line == 1)
    snprintf (buf, size, "in the value at column %zu", col);
  else
    snprintf (buf, size, "at the end of the value");
}

/* Records "<position>: <message>"; returns GS_ECONFIG. */
static int
yerr (const yparser *p, const yaml_mark_t *m, const char *fmt, ...)
{
  char *msg, pos[512];
  va_list ap;
  va_start (ap, fmt);
  msg = gs__vasprintf (fmt, ap);
  va_end (ap);
  if (!msg)
    return gs_error (GS_ENOMEM, "out of memory");
  ypos (p, m->line + 1, m->column + 1, pos, sizeof pos);
  gs_error (GS_ECONFIG, "%s: %s", pos, msg);
  free (msg);
  return GS_ECONFIG;
}

/* Line and column (1-based, in characters) of a byte offset. */
static void
offset_position (const yparser *p, size_t offset, size_t *line,
                 size_t *col)
{
  size_t i;
  *line = 1;
  *col = 1;
  if (offset > p->len)
    offset = p->len;
  for (i = 0; i < offset; i++)
    {
      if (p->text[i] == '\n')
        {
          (*line)++;
          *col = 1;
        }
      else if ((p->text[i] & 0xC0) != 0x80)
        (*col)++;
    }
}

static int
parser_error (const yparser *p, const yaml_parser_t *ps)
{
  const char *problem = ps->problem ? ps->problem : "unknown error";
  char pos[512];
  if (ps->error == YAML_MEMORY_ERROR)
    return gs_error (GS_ENOMEM, "%s: out of memory while reading YAML",
                     p->name);
  if (ps->error == YAML_READER_ERROR)
    {
      size_t line, col;
      offset_position (p, ps->problem_offset, &line, &col);
      ypos (p, line, col, pos, sizeof pos);
      if (ps->problem_value != -1)
        return gs_error (GS_ECONFIG,
                         "%s: invalid YAML: %s (byte value 0x%X); save "
                         "the file as UTF-8 text",
                         pos, problem, ps->problem_value);
      return gs_error (GS_ECONFIG,
                       "%s: invalid YAML: %s; save the file as UTF-8 text",
                       pos, problem);
    }
  ypos (p, ps->problem_mark.line + 1, ps->problem_mark.column + 1, pos,
        sizeof pos);
  if (ps->context)
    return gs_error (GS_ECONFIG,
                     "%s: invalid YAML: %s (%s at line %zu, column %zu); "
                     "check indentation, quotes, brackets and the space "
                     "after ':'",
                     pos, problem, ps->context, ps->context_mark.line + 1,
                     ps->context_mark.column + 1);
  return gs_error (GS_ECONFIG,
                   "%s: invalid YAML: %s; check indentation, quotes, "
                   "brackets and the space after ':'",
                   pos, problem);
}

static size_t
key_hash (const char *s)
{
  uint64_t h = 14695981039346656037u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211u;
  return (size_t)(h ^ (h >> 32));
}

/* The slot of `key` in the frame's table: its own slot, or the empty one
 * where it would go. */
static size_t
frame_slot (const yframe *f, const char *key)
{
  size_t mask = f->nslots - 1;
  size_t i = key_hash (key) & mask;
  while (f->slots[i] && strcmp (f->node->keys[f->slots[i] - 1], key) != 0)
    i = (i + 1) & mask;
  return i;
}

/* Keeps the table at most half full for one more key. */
static int
frame_reserve (yframe *f)
{
  size_t n, i;
  size_t *slots;
  if ((f->node->n + 1) * 2 <= f->nslots)
    return GS_OK;
  n = f->nslots ? f->nslots * 2 : 16;
  if (n > SIZE_MAX / sizeof *slots)
    return GS_ENOMEM;
  slots = calloc (n, sizeof *slots);
  if (!slots)
    return GS_ENOMEM;
  free (f->slots);
  f->slots = slots;
  f->nslots = n;
  for (i = 0; i < f->node->n; i++)
    f->slots[frame_slot (f, f->node->keys[i])] = i + 1;
  return GS_OK;
}

static void
frame_fini (yframe *f)
{
  free (f->key);
  free (f->slots);
  memset (f, 0, sizeof *f);
}

static const char *
kind_name (yaml_event_type_t t)
{
  return t == YAML_MAPPING_START_EVENT    ? "a mapping"
         : t == YAML_SEQUENCE_START_EVENT ? "a sequence"
                                          : "a scalar";
}

/* Accepts no tag, the non-specific '!' and the YAML core tags; sets
 * *as_string for '!' and '!!str'. */
static int
check_tag (const yparser *p, const yaml_event_t *ev, const yaml_char_t *tag,
           int *as_string)
{
  static const char *core[] = { "str", "int", "float", "bool",
                                "null", "map", "seq" };
  static const char prefix[] = "tag:yaml.org,2002:";
  const char *t = (const char *)tag;
  size_t i;
  *as_string = 0;
  if (!t)
    return GS_OK;
  if (strcmp (t, "!") == 0)
    {
      *as_string = 1;
      return GS_OK;
    }
  if (strncmp (t, prefix, sizeof prefix - 1) == 0)
    for (i = 0; i < sizeof core / sizeof core[0]; i++)
      if (strcmp (t + sizeof prefix - 1, core[i]) == 0)
        {
          *as_string = i == 0;
          return GS_OK;
        }
  return yerr (p, &ev->start_mark,
               "unsupported tag '%.*s'; remove it (only the YAML core tags "
               "such as !!str are accepted)",
               GS__YAML_SHOW, t);
}

/* "in 'name'" or "at the top level", for messages about a frame. */
static void
frame_where (const yframe *f, char *buf, size_t size)
{
  if (f->name)
    snprintf (buf, size, "in '%.*s'", GS__YAML_SHOW, f->name);
  else
    snprintf (buf, size, "at the top level");
}

/* A scalar arriving where a mapping expects a key. */
static int
on_key (yparser *p, yframe *top, const yaml_event_t *ev)
{
  const char *key = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length, slot;
  char shown[GS__YAML_SHOW + 8], in[GS__YAML_SHOW + 16];
  frame_where (top, in, sizeof in);
  if (len == 0)
    return yerr (p, &ev->start_mark,
                 "empty key %s; write a name before ':'", in);
  if (memchr (key, '\0', len))
    return yerr (p, &ev->start_mark,
                 "key %s contains a NUL character; remove the '\\0'",
                 in);
  if (frame_reserve (top) != GS_OK)
    return gs_error (GS_ENOMEM, "out of memory");
  slot = frame_slot (top, key);
  if (top->slots[slot])
    {
      size_t first = top->slots[slot] - 1;
      show_text (key, shown, sizeof shown);
      return yerr (p, &ev->start_mark,
                   "duplicate key %s %s (first at line %zu, column "
                   "%zu); keep only one of them",
                   shown, in, top->node->key_line[first],
                   top->node->key_column[first]);
    }
  top->key = gs__strndup (key, len);
  if (!top->key)
    return gs_error (GS_ENOMEM, "out of memory");
  top->key_line = ev->start_mark.line + 1;
  top->key_column = ev->start_mark.column + 1;
  return GS_OK;
}

/* A scalar, sequence or mapping that is a value (not a key). */
static int
on_node (yparser *p, const yaml_event_t *ev)
{
  yframe *top = p->depth ? &p->stack[p->depth - 1] : NULL;
  const yaml_char_t *anchor, *tag;
  gs_ynode_kind kind;
  gs_ynode *node;
  int as_string, rc, block;
  size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
  const char *name = NULL;
  char ctx[GS__YAML_SHOW + 40];

  if (ev->type == YAML_SCALAR_EVENT)
    {
      kind = GS_YNODE_SCALAR;
      anchor = ev->data.scalar.anchor;
      tag = ev->data.scalar.tag;
      block = 0;
    }
  else if (ev->type == YAML_SEQUENCE_START_EVENT)
    {
      kind = GS_YNODE_SEQUENCE;
      anchor = ev->data.sequence_start.anchor;
      tag = ev->data.sequence_start.tag;
      block = ev->data.sequence_start.style == YAML_BLOCK_SEQUENCE_STYLE;
    }
  else
    {
      kind = GS_YNODE_MAPPING;
      anchor = ev->data.mapping_start.anchor;
      tag = ev->data.mapping_start.tag;
      block = ev->data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE;
    }
  if (anchor)
    return yerr (p, &ev->start_mark,
                 "anchors ('&%.*s') are not supported; write the value out "
                 "in full wherever it is used",
                 GS__YAML_SHOW, (const char *)anchor);
  if ((rc = check_tag (p, ev, tag, &as_string)) != GS_OK)
    return rc;

  if (top && top->node->kind == GS_YNODE_MAPPING && !top->key)
    {
      if (kind != GS_YNODE_SCALAR)
        {
          frame_where (top, ctx, sizeof ctx);
          return yerr (p, &ev->start_mark,
                       "%s is used as a key %s; keys must be plain names",
                       kind_name (ev->type), ctx);
        }
      return on_key (p, top, ev);
    }
  if (!top && p->root)
    return yerr (p, &ev->start_mark,
                 "unexpected second value; a document holds one mapping");
  if (!top && p->flow_only && block)
    return yerr (p, &ev->start_mark,
                 "the value is a block %s; write a flow value such as "
                 "[1, 2] or {k: v}, or quote it to set a string",
                 kind == GS_YNODE_MAPPING ? "mapping" : "sequence");
  if (kind != GS_YNODE_SCALAR && p->depth == GS__YAML_MAX_DEPTH)
    return yerr (p, &ev->start_mark,
                 "nesting deeper than %d levels; flatten this part of the "
                 "configuration",
                 GS__YAML_MAX_DEPTH);

  node = ynode_new (kind, top ? p->root->file : NULL, line, col,
                    top ? NULL : p->name);
  if (!node)
    return gs_error (GS_ENOMEM, "out of memory");
  if (kind == GS_YNODE_SCALAR)
    {
      const char *text = (const char *)ev->data.scalar.value;
      size_t len = ev->data.scalar.length;
      if (top && top->node->kind == GS_YNODE_MAPPING)
        snprintf (ctx, sizeof ctx, "value of '%.*s'", GS__YAML_SHOW,
                  top->key);
      else if (top && top->name)
        snprintf (ctx, sizeof ctx, "value of '%.*s[%zu]'", GS__YAML_SHOW,
                  top->name, top->node->n);
      else if (top)
        snprintf (ctx, sizeof ctx, "item %zu", top->node->n);
      else
        ctx[0] = '\0';
      node->plain
          = !as_string && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      if (memchr (text, '\0', len))
        rc = yerr (p, &ev->start_mark,
                   "%s contains a NUL character; remove the '\\0'",
                   *ctx ? ctx : "the value");
      else if ((rc = gs_yaml_expand_vars (text, &node->value)) != GS_OK)
        {
          char pos[512];
          ypos (p, line, col, pos, sizeof pos);
          gs_error_prefix (rc, "%s%s%s", pos, *ctx ? ": " : "", ctx);
        }
      if (rc != GS_OK)
        {
          gs_ynode_free (node);
          return rc;
        }
    }

  if (!top)
    p->root = node;
  else if (top->node->kind == GS_YNODE_MAPPING)
    {
      name = top->key;
      if (ynode_append (top->node, top->key, top->key_line, top->key_column,
                        node)
          != GS_OK)
        {
          gs_ynode_free (node);
          return gs_error (GS_ENOMEM, "out of memory");
        }
      top->key = NULL;
      top->slots[frame_slot (top, name)] = top->node->n;
    }
  else if (ynode_append (top->node, NULL, 0, 0, node) != GS_OK)
    {
      gs_ynode_free (node);
      return gs_error (GS_ENOMEM, "out of memory");
    }
  else
    name = top->name;

  if (kind != GS_YNODE_SCALAR)
    {
      yframe *f = &p->stack[p->depth++];
      memset (f, 0, sizeof *f);
      f->node = node;
      f->name = name;
    }
  return GS_OK;
}

/* Parses len bytes of text.  `flow_only` is for --set values: an empty
 * text is an empty scalar, and block collections are refused. */
static int
yaml_load_mem (const unsigned char *text, size_t len, const char *name,
               int flow_only, gs_ynode **root)
{
  yparser p;
  yaml_parser_t ps;
  yaml_event_t ev;
  int rc = GS_OK, done = 0, docs = 0;
  size_t i;

  memset (&p, 0, sizeof p);
  p.name = name;
  p.text = text;
  p.len = len;
  p.flow_only = flow_only;
  if (!yaml_parser_initialize (&ps))
    return gs_error (GS_ENOMEM, "out of memory");
  yaml_parser_set_input_string (&ps, text, len);
  while (!done && rc == GS_OK)
    {
      if (!yaml_parser_parse (&ps, &ev))
        {
          rc = parser_error (&p, &ps);
          break;
        }
      switch (ev.type)
        {
        case YAML_STREAM_END_EVENT:
          done = 1;
          break;
        case YAML_DOCUMENT_START_EVENT:
          if (docs++ > 0)
            rc = yerr (&p, &ev.start_mark,
                       "a second YAML document ('---'); keep one document "
                       "per file");
          break;
        case YAML_ALIAS_EVENT:
          rc = yerr (&p, &ev.start_mark,
                     "aliases ('*%.*s') are not supported; write the value "
                     "out in full",
                     GS__YAML_SHOW, (const char *)ev.data.alias.anchor);
          break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
          rc = on_node (&p, &ev);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
          if (p.depth > 0)
            frame_fini (&p.stack[--p.depth]);
          break;
        default:
          break;
        }
      yaml_event_delete (&ev);
    }
  yaml_parser_delete (&ps);
  for (i = 0; i < p.depth; i++)
    frame_fini (&p.stack[i]);
  if (rc != GS_OK)
    {
      gs_ynode_free (p.root);
      return rc;
    }
  if (!p.root)
    {
      p.root = ynode_new (flow_only ? GS_YNODE_SCALAR : GS_YNODE_MAPPING,
                          NULL, 1, 1, name);
      if (p.root && flow_only)
        {
          p.root->plain = 1;
          p.root->value = gs__strdup ("");
          if (!p.root->value)
            {
              gs_ynode_free (p.root);
              p.root = NULL;
            }
        }
      if (!p.root)
        return gs_error (GS_ENOMEM, "out of memory");
    }
  else if (!flow_only && p.root->kind == GS_YNODE_SCALAR && p.root->plain
           && is_null_text (p.root->value))
    {
      /* A document that is only "---" or "~" is empty too. */
      free (p.root->value);
      p.root->value = NULL;
      p.root->plain = 0;
      p.root->kind = GS_YNODE_MAPPING;
    }
  *root = p.root;
  return GS_OK;
}

int
gs_yaml_load_string (const char *text, const char *name, gs_ynode **root)
{
  if (!root)
    return gs_error (GS_EINVAL, "gs_yaml_load_string: NULL root");
  *root = NULL;
  if (!text)
    return gs_error (GS_EINVAL, "gs_yaml_load_string: NULL text");
  return yaml_load_mem ((const unsigned char *)text, strlen (text),
                        name ? name : "<string>", 0, root);
}

int
gs_yaml_load_file (const char *path, gs_ynode **root)
{
  char *data;
  size_t len;
  int rc;
  if (!root)
    return gs_error (GS_EINVAL, "gs_yaml_load_file: NULL root");
  *root = NULL;
  if (!path)
    return gs_error (GS_EINVAL, "gs_yaml_load_file: NULL path");
  if ((rc = gs__read_file (path, &data, &len)) != GS_OK)
    return rc;
  rc = yaml_load_mem ((const unsigned char *)data, len, path, 0, root);
  free (data);
  return rc;
}

/* ---- Overrides -------------------------------------------------------- */

/* Marks a tree parsed from a --set value as created by --set. */
static void
mark_set (gs_ynode *n)
{
  size_t i;
  n->file = yset_file;
  n->line = 0;
  n->column = 0;
  for (i = 0; i < n->n; i++)
    {
      if (n->kind == GS_YNODE_MAPPING)
        {
          n->key_line[i] = 0;
          n->key_column[i] = 0;
        }
      mark_set (n->items[i]);
    }
}

/* Number of nested collections in a tree (0 for a scalar). */
static size_t
tree_depth (const gs_ynode *n)
{
  size_t i, d = 0;
  if (n->kind == GS_YNODE_SCALAR)
    return 0;
  for (i = 0; i < n->n; i++)
    {
      size_t c = tree_depth (n->items[i]);
      if (c > d)
        d = c;
    }
  return d + 1;
}

/* Parses a sequence index: decimal digits only. */
static int
parse_index (const char *s, size_t *out)
{
  size_t v = 0;
  if (!*s)
    return GS_EINVAL;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
        return GS_EINVAL;
      v = v * 10 + (size_t)(*s - '0');
    }
  *out = v;
  return GS_OK;
}

/* Walks `path` (split in place into nparts NUL-separated parts) from
 * root and puts *value there, taking ownership on success.  `shown`
 * names the override in messages. */
static int
set_path (gs_ynode *root, char *path, size_t nparts, gs_ynode **value,
          const char *shown)
{
  gs_ynode *cur = root;
  char *part = path;
  size_t i;
  for (i = 0; i < nparts; i++, part += strlen (part) + 1)
    {
      int last = i + 1 == nparts;
      gs_ynode **slot = NULL;
      gs_ynode *fresh;
      char *key = NULL;
      char here[GS__YAML_SHOW + 8], txt[GS__YAML_SHOW + 8];

      /* `path` up to the parent of this part, dots restored. */
      if (i == 0)
        snprintf (here, sizeof here, "the top level");
      else
        {
          size_t plen = (size_t)(part - 1 - path), k;
          char full[GS__YAML_SHOW + 1];
          if (plen > GS__YAML_SHOW)
            plen = GS__YAML_SHOW;
          for (k = 0; k < plen; k++)
            full[k] = path[k] ? path[k] : '.';
          full[plen] = '\0';
          show_text (full, here, sizeof here);
        }
      show_text (part, txt, sizeof txt);

      if (cur->kind == GS_YNODE_MAPPING)
        {
          size_t j;
          for (j = 0; j < cur->n; j++)
            if (strcmp (cur->keys[j], part) == 0)
              break;
          if (j < cur->n)
            slot = &cur->items[j];
          else if (!(key = gs__strdup (part)))
            return gs_error (GS_ENOMEM, "out of memory");
        }
      else if (cur->kind == GS_YNODE_SEQUENCE)
        {
          size_t idx;
          if (parse_index (part, &idx) != GS_OK)
            return gs_error (GS_ECONFIG,
                             "--set %s: %s is a sequence of %zu items, so "
                             "the path part %s must be an index from 0 to "
                             "%zu (%zu appends)",
                             shown, here, cur->n, txt, cur->n, cur->n);
          if (idx > cur->n)
            return gs_error (GS_ECONFIG,
                             "--set %s: index %s is out of range for %s, "
                             "which has %zu items; use 0 to %zu, where %zu "
                             "appends",
                             shown, txt, here, cur->n, cur->n, cur->n);
          if (idx < cur->n)
            slot = &cur->items[idx];
        }
      else
        {
          char val[GS__YAML_SHOW + 8];
          show_node (cur, val, sizeof val);
          return gs_error (GS_ECONFIG,
                           "--set %s: %s is a scalar (%s), so it has no "
                           "part %s; set %s itself instead",
                           shown, here, val, txt, here);
        }

      if (slot && last)
        {
          gs_ynode_free (*slot);
          *slot = *value;
          *value = NULL;
          return GS_OK;
        }
      if (slot)
        {
          cur = *slot;
          continue;
        }
      /* A missing key or the index that appends. */
      fresh = last ? *value
                   : ynode_new (GS_YNODE_MAPPING, yset_file, 0, 0, NULL);
      if (!fresh || ynode_append (cur, key, 0, 0, fresh) != GS_OK)
        {
          if (!last)
            gs_ynode_free (fresh);
          free (key);
          return gs_error (GS_ENOMEM, "out of memory");
        }
      if (last)
        *value = NULL;
      cur = fresh;
    }
  return GS_OK;
}

int
gs_yaml_apply_set (gs_ynode *root, const char *assignment)
{
  const char *eq, *c;
  char shown[GS__YAML_SHOW + 8];
  char *path, *q;
  size_t nparts = 1, depth;
  gs_ynode *value = NULL;
  int rc;

  if (!root || !assignment)
    return gs_error (GS_EINVAL, "gs_yaml_apply_set: NULL argument");
  show_text (assignment, shown, sizeof shown);
  eq = strchr (assignment, '=');
  if (!eq || eq == assignment)
    return gs_error (GS_ECONFIG,
                     "--set %s: expected PATH=VALUE, for example seed=7 or "
                     "methods.0.id=unmixing.nnpu",
                     shown);
  for (c = assignment; c < eq; c++)
    if (*c == '.')
      nparts++;
  if (nparts > GS__YAML_MAX_DEPTH)
    return gs_error (GS_ECONFIG,
                     "--set %s: the path has %zu parts; at most %d are "
                     "allowed",
                     shown, nparts, GS__YAML_MAX_DEPTH);
  path = gs__strndup (assignment, (size_t)(eq - assignment));
  if (!path)
    return gs_error (GS_ENOMEM, "out of memory");
  for (q = path;; q++)
    {
      int end = *q == '\0';
      if (*q == '.' || end)
        {
          if (q == path || q[-1] == '\0')
            {
              free (path);
              return gs_error (GS_ECONFIG,
                               "--set %s: empty part in the path; write "
                               "names or indices separated by single dots",
                               shown);
            }
          *q = '\0';
        }
      if (end)
        break;
    }

  rc = yaml_load_mem ((const unsigned char *)(eq + 1), strlen (eq + 1),
                      yset_file, 1, &value);
  if (rc != GS_OK)
    {
      free (path);
      return gs_error_prefix (rc, "--set %s", shown);
    }
  mark_set (value);
  depth = tree_depth (value);
  if (nparts + depth > GS__YAML_MAX_DEPTH)
    rc = gs_error (GS_ECONFIG,
                   "--set %s: the value would sit %zu levels deep; at most "
                   "%d are allowed",
                   shown, nparts + depth, GS__YAML_MAX_DEPTH);
  else
    rc = set_path (root, path, nparts, &value, shown);
  gs_ynode_free (value);
  free (path);
  return rc;
}

/* ---- Schema checking -------------------------------------------------- */

/* A decimal integer in [-2^63, 2^64 - 1]; exact where long double is. */
static int
parse_int_text (const char *s, long double *out)
{
  long l;
  const char *p = s;
  unsigned long long u;
  char *end;
  if (gs__parse_long (s, &l) == GS_OK)
    {
      *out = (long double)l;
      return GS_OK;
    }
  while (isspace ((unsigned char)*p))
    p++;
  if (*p == '+')
    p++;
  if (!isdigit ((unsigned char)*p))
    return GS_EINVAL;
  errno = 0;
  u = strtoull (p, &end, 10);
  if (errno == ERANGE)
    return GS_EINVAL;
  while (isspace ((unsigned char)*end))
    end++;
  if (*end)
    return GS_EINVAL;
  *out = (long double)u;
  return GS_OK;
}

/* Whether `value` is one of the choices "a|b|c". */
static int
enum_match (const char *choices, const char *value)
{
  const char *c = choices;
  size_t vlen = strlen (value);
  while (c)
    {
      const char *bar = strchr (c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen (c);
      if (len == vlen && strncmp (c, value, len) == 0)
        return 1;
      c = bar ? bar + 1 : NULL;
    }
  return 0;
}

static int check_node (const gs_ynode *n, const gs_yschema *s,
                       const char *name, const char *prefix);

/* " (help)" or "". */
static void
fmt_help (const gs_yschema *s, char *buf, size_t size)
{
  if (s->help && *s->help)
    snprintf (buf, size, " (%s)", s->help);
  else if (size)
    buf[0] = '\0';
}

static int
type_error (const gs_ynode *n, const gs_yschema *s, const char *name,
            const char *expected)
{
  char got[GS__YAML_SHOW + 8], help[256];
  show_node (n, got, sizeof got);
  fmt_help (s, help, sizeof help);
  return node_error (n, "'%s' must be %s, got %s%s", name, expected, got,
                     help);
}

static int
check_scalar (const gs_ynode *n, const gs_yschema *s, const char *name)
{
  char range[128], expected[192];
  const char *v = n->value ? n->value : "";
  switch (s->type)
    {
    case GS_YS_INT:
      {
        long double x;
        int ok = parse_int_text (v, &x) == GS_OK;
        if (ok && !(s->min > s->max))
          ok = x >= (long double)s->min && x <= (long double)s->max;
        if (ok)
          return GS_OK;
        fmt_range (s->min, s->max, 1, range, sizeof range);
        snprintf (expected, sizeof expected, "an integer%s", range);
        return type_error (n, s, name, expected);
      }
    case GS_YS_REAL:
      {
        double x;
        int ok = gs__parse_double (v, &x) == GS_OK;
        if (ok && !(s->min > s->max))
          ok = x >= s->min && x <= s->max;
        if (ok)
          return GS_OK;
        fmt_range (s->min, s->max, 0, range, sizeof range);
        snprintf (expected, sizeof expected, "a number%s", range);
        return type_error (n, s, name, expected);
      }
    case GS_YS_BOOL:
      {
        int b;
        if (gs__parse_bool (v, &b) == GS_OK)
          return GS_OK;
        return type_error (n, s, name,
                           "true or false (or yes/no, on/off)");
      }
    case GS_YS_ENUM:
      {
        gs__buf list;
        char got[GS__YAML_SHOW + 8], help[256], hint[GS__YAML_SHOW + 40];
        const char *c = s->choices ? s->choices : "";
        const char *best = NULL;
        size_t best_len = 0, best_d = SIZE_MAX;
        int rc;
        if (enum_match (c, v))
          return GS_OK;
        gs__buf_init (&list);
        gs__buf_append (&list, "", 0);
        while (c)
          {
            const char *bar = strchr (c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen (c);
            if (list.len)
              gs__buf_puts (&list, ", ");
            gs__buf_append (&list, c, len);
            suggest (v, c, len, &best, &best_len, &best_d);
            c = bar ? bar + 1 : NULL;
          }
        if (list.failed)
          {
            gs__buf_fini (&list);
            return gs_error (GS_ENOMEM, "out of memory");
          }
        show_node (n, got, sizeof got);
        fmt_help (s, help, sizeof help);
        hint[0] = '\0';
        if (best && *v)
          snprintf (hint, sizeof hint, "; did you mean '%.*s'?",
                    (int)best_len, best);
        rc = node_error (n, "'%s' must be one of: %s; got %s%s%s", name,
                         list.data, got, hint, help);
        gs__buf_fini (&list);
        return rc;
      }
    default:
      return GS_OK;
    }
}

static int
check_map (const gs_ynode *n, const gs_yschema *s, const char *name,
           const char *prefix)
{
  const gs_yschema *c;
  size_t i;
  int rc;
  if (!s->children)
    return GS_OK;
  for (i = 0; i < n->n; i++)
    {
      char *child;
      for (c = s->children; c->key; c++)
        if (strcmp (c->key, n->keys[i]) == 0)
          break;
      if (!c->key)
        {
          gs__buf list;
          char key[GS__YAML_SHOW + 8], where[512];
          const char *best = NULL;
          size_t best_len = 0, best_d = SIZE_MAX;
          gs__buf_init (&list);
          gs__buf_append (&list, "", 0);
          for (c = s->children; c->key; c++)
            {
              if (c != s->children)
                gs__buf_puts (&list, ", ");
              gs__buf_puts (&list, c->key);
              suggest (n->keys[i], c->key, strlen (c->key), &best,
                       &best_len, &best_d);
            }
          if (list.failed)
            {
              gs__buf_fini (&list);
              return gs_error (GS_ENOMEM, "out of memory");
            }
          show_text (n->keys[i], key, sizeof key);
          if (n->key_line[i] == 0)
            snprintf (where, sizeof where, "%s", n->file);
          else
            snprintf (where, sizeof where, "%s:%zu:%zu", n->file,
                      n->key_line[i], n->key_column[i]);
          if (s->children->key)
            gs_error (GS_ECONFIG,
                      "%s: unknown key %s in '%s'; valid keys: %s%s%s%s",
                      where, key, name, list.data,
                      best ? "; did you mean '" : "", best ? best : "",
                      best ? "'?" : "");
          else
            gs_error (GS_ECONFIG,
                      "%s: unknown key %s in '%s'; it takes no keys", where,
                      key, name);
          gs__buf_fini (&list);
          return GS_ECONFIG;
        }
      child = *prefix ? gs__asprintf ("%s.%s", prefix, n->keys[i])
                      : gs__strdup (n->keys[i]);
      if (!child)
        return gs_error (GS_ENOMEM, "out of memory");
      rc = check_node (n->items[i], c, child, child);
      free (child);
      if (rc != GS_OK)
        return rc;
    }
  for (c = s->children; c->key; c++)
    if (c->required && !gs_ynode_get (n, c->key))
      {
        char help[256];
        fmt_help (c, help, sizeof help);
        return node_error (n, "missing required key '%s' in '%s'%s", c->key,
                           name, help);
      }
  return GS_OK;
}

static int
check_node (const gs_ynode *n, const gs_yschema *s, const char *name,
            const char *prefix)
{
  size_t i;
  int rc;
  switch (s->type)
    {
    case GS_YS_ANY:
      return GS_OK;
    case GS_YS_STRING:
    case GS_YS_INT:
    case GS_YS_REAL:
    case GS_YS_BOOL:
    case GS_YS_ENUM:
      if (n->kind != GS_YNODE_SCALAR)
        return type_error (n, s, name,
                           s->type == GS_YS_STRING ? "a string"
                           : s->type == GS_YS_INT  ? "an integer"
                           : s->type == GS_YS_REAL ? "a number"
                           : s->type == GS_YS_BOOL ? "true or false"
                                                   : "one of the choices");
      return check_scalar (n, s, name);
    case GS_YS_MAP:
      if (n->kind != GS_YNODE_MAPPING)
        return type_error (n, s, name, "a mapping");
      return check_map (n, s, name, prefix);
    case GS_YS_SCALAR_OR_MAP:
      if (n->kind == GS_YNODE_SCALAR)
        return GS_OK;
      if (n->kind != GS_YNODE_MAPPING)
        return type_error (n, s, name, "a scalar or a mapping");
      return check_map (n, s, name, prefix);
    case GS_YS_SEQ:
      if (n->kind != GS_YNODE_SEQUENCE)
        return type_error (n, s, name, "a sequence");
      if (!s->item)
        return GS_OK;
      for (i = 0; i < n->n; i++)
        {
          char *item = gs__asprintf ("%s[%zu]", *prefix ? prefix : name, i);
          if (!item)
            return gs_error (GS_ENOMEM, "out of memory");
          rc = check_node (n->items[i], s->item, item, item);
          free (item);
          if (rc != GS_OK)
            return rc;
        }
      return GS_OK;
    default:
      return gs_error (GS_EINVAL, "schema for '%s' has an unknown type %d",
                       name, (int)s->type);
    }
}

int
gs_yaml_check (const gs_ynode *node, const gs_yschema *schema,
               const char *where)
{
  const char *name = where ? where : "the document";
  if (!schema)
    return gs_error (GS_EINVAL, "gs_yaml_check: NULL schema");
  if (!node)
    return gs_error (GS_ECONFIG, "missing '%s'", name);
  return check_node (node, schema, name, "");
}

/* ---- Typed accessors -------------------------------------------------- */

static int
accessor_error (const gs_ynode *n, const char *what, const char *expected)
{
  char got[GS__YAML_SHOW + 8];
  show_node (n, got, sizeof got);
  return node_error (n, "'%s' must be %s, got %s", what ? what : "value",
                     expected, got);
}

int
gs_ynode_as_long (const gs_ynode *n, const char *what, long min, long max,
                  long *out)
{
  long v;
  char expected[128];
  if (!n)
    return gs_error (GS_ECONFIG, "missing value for '%s'",
                     what ? what : "value");
  if (n->kind == GS_YNODE_SCALAR && gs__parse_long (n->value, &v) == GS_OK
      && (min > max || (v >= min && v <= max)))
    {
      if (out)
        *out = v;
      return GS_OK;
    }
  if (min > max || (min == LONG_MIN && max == LONG_MAX))
    snprintf (expected, sizeof expected, "an integer");
  else if (min == LONG_MIN)
    snprintf (expected, sizeof expected, "an integer <= %ld", max);
  else if (max == LONG_MAX)
    snprintf (expected, sizeof expected, "an integer >= %ld", min);
  else
    snprintf (expected, sizeof expected, "an integer in [%ld, %ld]", min,
              max);
  return accessor_error (n, what, expected);
}

int
gs_ynode_as_double (const gs_ynode *n, const char *what, double min,
                    double max, double *out)
{
  double v;
  char range[128], expected[160];
  if (!n)
    return gs_error (GS_ECONFIG, "missing value for '%s'",
                     what ? what : "value");
  if (n->kind == GS_YNODE_SCALAR && gs__parse_double (n->value, &v) == GS_OK
      && (min > max || (v >= min && v <= max)))
    {
      if (out)
        *out = v;
      return GS_OK;
    }
  fmt_range (min, max, 0, range, sizeof range);
  snprintf (expected, sizeof expected, "a number%s", range);
  return accessor_error (n, what, expected);
}

int
gs_ynode_as_bool (const gs_ynode *n, const char *what, int *out)
{
  int v;
  if (!n)
    return gs_error (GS_ECONFIG, "missing value for '%s'",
                     what ? what : "value");
  if (n->kind == GS_YNODE_SCALAR && gs__parse_bool (n->value, &v) == GS_OK)
    {
      if (out)
        *out = v;
      return GS_OK;
    }
  return accessor_error (n, what, "true or false (or yes/no, on/off)");
}

int
gs_ynode_as_string (const gs_ynode *n, const char *what, const char **out)
{
  if (!n)
    return gs_error (GS_ECONFIG, "missing value for '%s'",
                     what ? what : "value");
  if (n->kind != GS_YNODE_SCALAR)
    return accessor_error (n, what, "a string");
  if (out)
    *out = n->value;
  return GS_OK;
}
