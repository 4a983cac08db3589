/* SPDX-License-Identifier: MIT */
/*
 * xsr-expat-count: the expat baseline for whole-process comparisons with
 * xsr-parse.  Reads FILE (or stdin) in chunks of --chunk bytes exactly as
 * xsr-parse does, feeds them to an expat parser with namespace processing,
 * counts the top-level children of the stream element (the stanzas), and
 * prints {"ok":...,"stanzas":N,"bytes":B}.  Exit 0 on success, 1 when the
 * input is not well-formed or unreadable, 2 on usage errors.
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned depth;
  unsigned long long stanzas;
} counter;

static void XMLCALL on_start(void *u, const XML_Char *name, const XML_Char **atts) {
  counter *c = u;
  (void)name;
  (void)atts;
  if (++c->depth == 2)
    c->stanzas++;
}

static void XMLCALL on_end(void *u, const XML_Char *name) {
  (void)name;
  ((counter *)u)->depth--;
}

static int usage(FILE *f, int rc) {
  fprintf(f, "usage: xsr-expat-count [--chunk N] FILE|-\n"
             "Counts the stanzas of an XMPP stream with expat, reading N-byte chunks\n"
             "(default 65536): the baseline that xsr-parse is measured against.\n");
  return rc;
}

static int bad_usage(const char *what, const char *arg) {
  fprintf(stderr, "xsr-expat-count: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "",
          arg ? "'" : "");
  return usage(stderr, 2);
}

int main(int argc, char **argv) {
  size_t chunk = 65536;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return usage(stdout, 0);
    if (strcmp(argv[i], "--chunk") == 0) {
      if (i + 1 >= argc)
        return bad_usage("--chunk needs a value", NULL);
      char *end;
      const char *a = argv[++i];
      unsigned long long v = strtoull(a, &end, 10);
      if (*a < '0' || *a > '9' || *end || v == 0 || v > (1u << 30))
        return bad_usage("--chunk takes a number in 1..1073741824, not", a);
      chunk = (size_t)v;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0' && strcmp(argv[i], "--") != 0) {
      return bad_usage("unknown option", argv[i]);
    } else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !path) {
      path = argv[++i];
    } else if (!path) {
      path = argv[i];
    } else {
      return bad_usage("one input only; also got", argv[i]);
    }
  }
  if (!path)
    return bad_usage("no input (a FILE, or - for stdin)", NULL);
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!in) {
    perror(path);
    return 1;
  }
  char *buf = malloc(chunk);
  XML_Parser xp = XML_ParserCreateNS(NULL, '\x01');
  if (!buf || !xp) {
    fprintf(stderr, "xsr-expat-count: out of memory\n");
    return 1;
  }
  counter c = {0, 0};
  XML_SetUserData(xp, &c);
  XML_SetElementHandler(xp, on_start, on_end);
  unsigned long long bytes = 0;
  int ok = 1;
  for (;;) {
    size_t n = fread(buf, 1, chunk, in);
    bytes += n;
    if (n > 0 && ok && XML_Parse(xp, buf, (int)n, 0) == XML_STATUS_ERROR)
      ok = 0;
    if (n < chunk)
      break;
  }
  int rd_err = ferror(in);
  printf("{\"ok\":%s,\"stanzas\":%llu,\"bytes\":%llu}\n", ok && !rd_err ? "true" : "false",
         c.stanzas, bytes);
  XML_ParserFree(xp);
  free(buf);
  if (in != stdin)
    fclose(in);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "xsr-expat-count: error writing output\n");
    return 1;
  }
  return ok && !rd_err ? 0 : 1;
}
