/* SPDX-License-Identifier: MIT */
/*
 * xsr-parse: runs a file (or stdin) through the xsr stream parser and prints
 * what it saw as JSON.
 *
 *   xsr-parse [--chunk N] [--max-stanza BYTES] [--max-depth N] [--events] FILE|-
 *
 * The input is read in reads of exactly N bytes (fread, so a pipe delivering
 * short reads still yields N-byte chunks) and each read goes to
 * xsr_parser_feed() as is: memory stays bounded by the chunk size plus what
 * the parser holds, however large the input.
 *
 * The output must be byte-for-byte the same for every chunk size, which is
 * why, after a parse error, the rest of the input is still read (and only
 * counted): "bytes" is always the size of the whole input, not of however
 * much had been read when the error was found.
 *
 * Exit status: 0 success, 1 parse failure or I/O error, 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include <xsr/xsr.h>

#define EXIT_USAGE      2
#define DEFAULT_CHUNK   65536u
#define MAX_CHUNK       (1u << 30)
#define MAX_DEPTH_LIMIT 65534u /* what xsr_parser_new() accepts (xsr_node.depth is 16 bits) */

static const char usage_text[] =
    "usage: xsr-parse [--chunk N] [--max-stanza BYTES] [--max-depth N] [--events] FILE|-\n"
    "\n"
    "Feeds FILE (or standard input for '-') through the xsr XMPP stream parser\n"
    "in chunks of N bytes and prints the result as JSON.\n"
    "\n"
    "  --chunk N           bytes per xsr_parser_feed() call (default 65536)\n"
    "  --max-stanza BYTES  stanza size limit (default 262144)\n"
    "  --max-depth N       element nesting limit (default 64)\n"
    "  --events            print one JSON object per event, one per line:\n"
    "                      stream-open, stanza, stream-close, error\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Without --events, prints one summary object, e.g.\n"
    "  {\"ok\":true,\"stanzas\":3,\"bytes\":812,\"closed\":true,"
    "\"stream\":{\"to\":\"example.com\",\"version\":\"1.0\"}}\n"
    "The output does not depend on the chunk size.\n"
    "\n"
    "Exit status: 0 success, 1 the input failed to parse or could not be read,\n"
    "2 usage error.\n";

typedef struct tool {
  xsr_parser *parser;
  yajl_gen gen;
  int events;
  uint64_t stanzas;
  /* Scratch memory for decoded attribute values. */
  char *scratch;
  size_t scratch_cap;
  /* The last stream header, decoded, for the summary. */
  int have_header;
  char *hdr_to, *hdr_from, *hdr_id, *hdr_version, *hdr_lang;
  int failed_alloc;
} tool;

/* ---- JSON output ------------------------------------------------------- */

static void gen_key(yajl_gen g, const char *key) {
  yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

static void gen_str(yajl_gen g, const char *key, const char *s, size_t len) {
  gen_key(g, key);
  yajl_gen_string(g, (const unsigned char *)s, len);
}

static void gen_cstr(yajl_gen g, const char *key, const char *s) { gen_str(g, key, s, strlen(s)); }

static void gen_u64(yajl_gen g, const char *key, uint64_t v) {
  /* yajl_gen_integer takes a long long; go through text to keep the full
   * unsigned range. */
  char num[24];
  int n = snprintf(num, sizeof num, "%" PRIu64, v);
  gen_key(g, key);
  yajl_gen_number(g, num, (size_t)n);
}

static void gen_bool(yajl_gen g, const char *key, int v) {
  gen_key(g, key);
  yajl_gen_bool(g, v);
}

/* Writes the finished top-level value and a newline, and readies the
 * generator for the next one. */
static void gen_flush(yajl_gen g) {
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  fwrite(buf, 1, len, stdout);
  fputc('\n', stdout);
  yajl_gen_clear(g);
  yajl_gen_reset(g, NULL);
}

/* ---- decoding helpers --------------------------------------------------- */

/* Decodes an attribute value into t->scratch.  Returns the decoded length,
 * or SIZE_MAX when memory ran out. */
static size_t decode_attr(tool *t, xsr_span raw) {
  if (raw.len > t->scratch_cap) {
    size_t cap = t->scratch_cap ? t->scratch_cap : 256;
    while (cap < raw.len)
      cap *= 2;
    char *p = realloc(t->scratch, cap);
    if (p == NULL) {
      t->failed_alloc = 1;
      return SIZE_MAX;
    }
    t->scratch = p;
    t->scratch_cap = cap;
  }
  size_t out = 0;
  /* cap == raw.len always suffices (stanza.h), so ENOSPC cannot happen. */
  if (xsr_decode_attr(raw, t->scratch, t->scratch_cap, &out) != XSR_OK)
    return SIZE_MAX;
  return out;
}

/* Emits "key": decoded value, when the attribute is present. */
static void gen_attr(tool *t, const char *key, xsr_span raw) {
  if (raw.ptr == NULL)
    return;
  size_t n = decode_attr(t, raw);
  if (n == SIZE_MAX)
    return;
  gen_str(t->gen, key, t->scratch, n);
}

/* A decoded, NUL-terminated heap copy of an attribute value; NULL when
 * absent (or out of memory, which is recorded). */
static char *dup_attr(tool *t, xsr_span raw) {
  if (raw.ptr == NULL)
    return NULL;
  size_t n = decode_attr(t, raw);
  if (n == SIZE_MAX)
    return NULL;
  char *s = malloc(n + 1);
  if (s == NULL) {
    t->failed_alloc = 1;
    return NULL;
  }
  memcpy(s, t->scratch, n);
  s[n] = '\0';
  return s;
}

static void gen_ns(tool *t, uint32_t ns) {
  xsr_span uri = xsr_parser_ns_uri(t->parser, ns);
  if (uri.ptr != NULL)
    gen_str(t->gen, "ns", uri.ptr, uri.len);
}

static void free_header(tool *t) {
  free(t->hdr_to);
  free(t->hdr_from);
  free(t->hdr_id);
  free(t->hdr_version);
  free(t->hdr_lang);
  t->hdr_to = t->hdr_from = t->hdr_id = t->hdr_version = t->hdr_lang = NULL;
}

/* ---- parser callbacks ----------------------------------------------------- */

static int on_stream_open(void *user, const xsr_stream_header *h) {
  tool *t = user;
  if (t->events) {
    yajl_gen g = t->gen;
    yajl_gen_map_open(g);
    gen_cstr(g, "event", "stream-open");
    gen_u64(g, "offset", h->offset);
    gen_ns(t, h->content_ns);
    gen_attr(t, "to", h->to);
    gen_attr(t, "from", h->from);
    gen_attr(t, "id", h->id);
    gen_attr(t, "version", h->version);
    gen_attr(t, "lang", h->lang);
    yajl_gen_map_close(g);
    gen_flush(g);
  } else {
    free_header(t);
    t->have_header = 1;
    t->hdr_to = dup_attr(t, h->to);
    t->hdr_from = dup_attr(t, h->from);
    t->hdr_id = dup_attr(t, h->id);
    t->hdr_version = dup_attr(t, h->version);
    t->hdr_lang = dup_attr(t, h->lang);
  }
  return t->failed_alloc ? -1 : 0;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  tool *t = user;
  t->stanzas++;
  if (t->events) {
    yajl_gen g = t->gen;
    yajl_gen_map_open(g);
    gen_cstr(g, "event", "stanza");
    gen_str(g, "name", st->name.ptr, st->name.len);
    gen_ns(t, st->ns);
    gen_attr(t, "to", st->to);
    gen_attr(t, "from", st->from);
    gen_attr(t, "id", st->id);
    gen_attr(t, "type", st->type);
    gen_u64(g, "offset", st->offset);
    gen_u64(g, "length", st->raw.len);
    yajl_gen_map_close(g);
    gen_flush(g);
  }
  return t->failed_alloc ? -1 : 0;
}

static int on_stream_close(void *user, uint64_t offset) {
  tool *t = user;
  if (t->events) {
    yajl_gen g = t->gen;
    yajl_gen_map_open(g);
    gen_cstr(g, "event", "stream-close");
    gen_u64(g, "offset", offset);
    yajl_gen_map_close(g);
    gen_flush(g);
  }
  return 0;
}

static const xsr_parser_callbacks callbacks = {
    .on_stream_open = on_stream_open,
    .on_stanza = on_stanza,
    .on_stream_close = on_stream_close,
};

/* ---- command line ------------------------------------------------------- */

/* Parses a decimal number in [min, max]; returns 0 on success. */
static int parse_num(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out) {
  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int usage_error(const char *what, const char *arg) {
  if (arg != NULL)
    fprintf(stderr, "xsr-parse: %s '%s'\n", what, arg);
  else
    fprintf(stderr, "xsr-parse: %s\n", what);
  fputs("Try 'xsr-parse --help'.\n", stderr);
  return EXIT_USAGE;
}

typedef struct options {
  size_t chunk;
  xsr_parser_config cfg;
  int events;
  const char *path;
} options;

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, options *o) {
  static const struct {
    const char *name;
    unsigned long long min, max;
  } num_opts[] = {
      {"--chunk", 1, MAX_CHUNK},
      {"--max-stanza", 1, XSR_MAX_STANZA_LIMIT},
      {"--max-depth", 1, MAX_DEPTH_LIMIT},
  };
  int only_operands = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
      if (o->path != NULL)
        return usage_error("unexpected argument", a);
      o->path = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_operands = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return fflush(stdout) == 0 && !ferror(stdout) ? EXIT_SUCCESS : EXIT_FAILURE;
    } else if (strcmp(a, "--events") == 0) {
      o->events = 1;
    } else {
      size_t k;
      const char *val = NULL;
      for (k = 0; k < sizeof num_opts / sizeof num_opts[0]; k++) {
        size_t n = strlen(num_opts[k].name);
        if (strncmp(a, num_opts[k].name, n) != 0)
          continue;
        if (a[n] == '=') {
          val = a + n + 1;
        } else if (a[n] == '\0') {
          if (i + 1 >= argc)
            return usage_error("missing value for option", a);
          val = argv[++i];
        } else {
          continue;
        }
        break;
      }
      if (k == sizeof num_opts / sizeof num_opts[0])
        return usage_error("unknown option", a);
      unsigned long long v;
      if (parse_num(val, num_opts[k].min, num_opts[k].max, &v) != 0) {
        fprintf(stderr, "xsr-parse: %s: '%s' is not a number in %llu..%llu\n", num_opts[k].name,
                val, num_opts[k].min, num_opts[k].max);
        fputs("Try 'xsr-parse --help'.\n", stderr);
        return EXIT_USAGE;
      }
      switch (k) {
      case 0:
        o->chunk = (size_t)v;
        break;
      case 1:
        o->cfg.max_stanza = (size_t)v;
        break;
      default:
        o->cfg.max_depth = (unsigned)v;
        break;
      }
    }
  }
  if (o->path == NULL)
    return usage_error("missing FILE (use '-' for standard input)", NULL);
  return -1;
}

/* ---- main ----------------------------------------------------------------- */

static void print_summary(tool *t, xsr_err err, uint64_t err_off, uint64_t bytes) {
  yajl_gen g = t->gen;
  yajl_gen_map_open(g);
  gen_bool(g, "ok", err == XSR_OK);
  gen_u64(g, "stanzas", t->stanzas);
  gen_u64(g, "bytes", bytes);
  gen_bool(g, "closed", xsr_parser_closed(t->parser));
  if (t->have_header) {
    gen_key(g, "stream");
    yajl_gen_map_open(g);
    if (t->hdr_to)
      gen_cstr(g, "to", t->hdr_to);
    if (t->hdr_from)
      gen_cstr(g, "from", t->hdr_from);
    if (t->hdr_id)
      gen_cstr(g, "id", t->hdr_id);
    if (t->hdr_version)
      gen_cstr(g, "version", t->hdr_version);
    if (t->hdr_lang)
      gen_cstr(g, "lang", t->hdr_lang);
    yajl_gen_map_close(g);
  }
  if (err != XSR_OK) {
    gen_key(g, "error");
    yajl_gen_map_open(g);
    gen_cstr(g, "condition", xsr_err_condition(err));
    gen_cstr(g, "code", xsr_err_name(err));
    gen_u64(g, "offset", err_off);
    gen_cstr(g, "message", xsr_err_message(err));
    yajl_gen_map_close(g);
  }
  yajl_gen_map_close(g);
  gen_flush(g);
}

static void print_error_event(tool *t, xsr_err err, uint64_t err_off) {
  yajl_gen g = t->gen;
  yajl_gen_map_open(g);
  gen_cstr(g, "event", "error");
  gen_cstr(g, "condition", xsr_err_condition(err));
  gen_cstr(g, "code", xsr_err_name(err));
  gen_u64(g, "offset", err_off);
  gen_cstr(g, "message", xsr_err_message(err));
  yajl_gen_map_close(g);
  gen_flush(g);
}

int main(int argc, char **argv) {
  options o = {.chunk = DEFAULT_CHUNK};
  xsr_parser_config_init(&o.cfg);
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0)
    return rc;

  FILE *in = stdin;
  const char *name = "standard input";
  if (strcmp(o.path, "-") != 0) {
    name = o.path;
    in = fopen(o.path, "rb");
    if (in == NULL) {
      fprintf(stderr, "xsr-parse: cannot open '%s': %s\n", o.path, strerror(errno));
      return EXIT_FAILURE;
    }
  }

  tool t = {.events = o.events};
  char *chunk = malloc(o.chunk);
  t.gen = yajl_gen_alloc(NULL);
  t.parser = xsr_parser_new(&o.cfg, &callbacks, &t, NULL);
  if (chunk == NULL || t.gen == NULL || t.parser == NULL) {
    fputs("xsr-parse: out of memory\n", stderr);
    rc = EXIT_FAILURE;
    goto done;
  }

  xsr_err err = XSR_OK;
  uint64_t bytes = 0;
  int read_errno = 0;
  for (;;) {
    size_t n = fread(chunk, 1, o.chunk, in);
    if (ferror(in))
      read_errno = errno;
    bytes += n;
    /* After an error the parser refuses input; the summary keeps reading
     * to count it ("bytes"), events have nothing more to say (an endless
     * input still gets its error event). */
    if (n > 0 && err == XSR_OK)
      err = xsr_parser_feed(t.parser, chunk, n);
    if (n < o.chunk || (err != XSR_OK && t.events))
      break;
  }
  if (ferror(in)) {
    fprintf(stderr, "xsr-parse: error reading %s: %s\n", name, strerror(read_errno));
    rc = EXIT_FAILURE;
    goto done;
  }
  if (t.failed_alloc || err == XSR_ENOMEM) {
    fputs("xsr-parse: out of memory\n", stderr);
    rc = EXIT_FAILURE;
    goto done;
  }

  uint64_t err_off = 0;
  if (err != XSR_OK)
    xsr_parser_error(t.parser, &err_off);
  if (t.events) {
    if (err != XSR_OK)
      print_error_event(&t, err, err_off);
  } else {
    print_summary(&t, err, err_off, bytes);
  }
  rc = err == XSR_OK ? EXIT_SUCCESS : EXIT_FAILURE;

done:
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "xsr-parse: error writing output: %s\n", strerror(errno));
    rc = EXIT_FAILURE;
  }
  if (in != stdin)
    fclose(in);
  xsr_parser_free(t.parser);
  if (t.gen)
    yajl_gen_free(t.gen);
  free_header(&t);
  free(t.scratch);
  free(chunk);
  return rc;
}
