/* SPDX-License-Identifier: MIT */
/*
 * Corpus generation.  Each stanza is built with the xsr writer into a
 * scratch buffer (grown and rebuilt from the same PRNG state on
 * XSR_ENOSPC) and appended to the stream, so the corpora also exercise the
 * writer: a writer bug shows up as a parser disagreeing on the count.
 * Writer failures other than ENOSPC are programming errors and abort.
 */
#include "corpus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/parser.h"
#include "xsr/writer.h"

const char *const xsr_bench_corpus_kinds[] = {"chat", "iq", "large", "adversarial", NULL};

typedef struct gen {
  uint64_t rng;
  xsr_writer *w;
  size_t single_size; /* for the single-stanza kinds */
} gen;

static uint64_t rnd(gen *g) {
  /* splitmix64: tiny, fast, and identical everywhere */
  uint64_t z = (g->rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static size_t range(gen *g, size_t lo, size_t hi) { return lo + (size_t)(rnd(g) % (hi - lo + 1)); }

/* True with probability pct/100. */
static int chance(gen *g, unsigned pct) { return rnd(g) % 100 < pct; }

static const char *pick(gen *g, const char *const *list, size_t n) { return list[rnd(g) % n]; }
#define PICK(g, arr) pick((g), (arr), sizeof(arr) / sizeof((arr)[0]))

static const char *const users[] = {"juliet", "romeo", "nurse",    "benvolio",  "mercutio",
                                    "tybalt", "paris", "laurence", "balthasar", "rosaline"};
static const char *const domains[] = {"example.com", "example.net", "capulet.lit", "montague.lit",
                                      "verona.example"};
static const char *const resources[] = {"balcony", "orchard",    "phone",
                                        "laptop",  "gajim.XQ3T", "conversations.z1Pq"};
static const char *const words[] = {
    "the",        "a",        "and",       "of",    "to",         "in",    "thou",
    "art",        "Romeo",    "wherefore", "love",  "night",      "light", "window",
    "sun",        "moon",     "name",      "rose",  "sweet",      "would", "smell",
    "meeting",    "tomorrow", "ok",        "lol",   "see",        "you",   "at",
    "nine",       "café",     "naïve",     "Grüße", "こんにちは", "世界",  "привет",
    "😀",          "👍",        "→",         "€5",    "<3",         "a&b",   "x>y",
    "\"quoted\"", "it's",     "déjà",      "vu",    "señor",      "Ωmega", "ok!",
};

static void jid(gen *g, char *out, size_t cap, int full) {
  if (full)
    snprintf(out, cap, "%s@%s/%s", PICK(g, users), PICK(g, domains), PICK(g, resources));
  else
    snprintf(out, cap, "%s@%s", PICK(g, users), PICK(g, domains));
}

static void stanza_id(gen *g, char *out, size_t cap) {
  snprintf(out, cap, "%08llx-%04llx", (unsigned long long)(rnd(g) & 0xffffffffu),
           (unsigned long long)(rnd(g) & 0xffffu));
}

/* Random prose of about `len` bytes, written as escaped text. */
static void prose(gen *g, size_t len) {
  char buf[256];
  size_t done = 0;
  while (done < len) {
    size_t n = 0;
    while (n < 160 && done + n < len) {
      const char *wd = PICK(g, words);
      size_t l = strlen(wd);
      memcpy(buf + n, wd, l);
      n += l;
      buf[n++] = chance(g, 4) ? '\n' : ' ';
    }
    xsr_writer_text(g->w, buf, n);
    done += n;
  }
}

static void el_text(gen *g, const char *name, const char *text) {
  xsr_writer_start(g->w, name);
  xsr_writer_text(g->w, text, strlen(text));
  xsr_writer_end(g->w);
}

static void el_ns(gen *g, const char *name, const char *ns) {
  xsr_writer_start(g->w, name);
  xsr_writer_attr(g->w, "xmlns", ns);
  xsr_writer_end(g->w);
}

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* `len` bytes of base64 text (len a multiple of 4). */
static void base64(gen *g, size_t len) {
  char buf[1024];
  while (len) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    for (size_t i = 0; i < n; i += 8) {
      uint64_t r = rnd(g);
      for (size_t k = 0; k < 8 && i + k < n; k++, r >>= 6)
        buf[i + k] = base64_alphabet[r & 63];
    }
    if (n == len && n >= 4 && chance(g, 50))
      buf[n - 1] = '=';
    xsr_writer_text(g->w, buf, n);
    len -= n;
  }
}

/* ---- chat -------------------------------------------------------------- */

static void chat_stanza(gen *g) {
  xsr_writer *w = g->w;
  char to[128], from[128], id[32];
  unsigned kind = (unsigned)(rnd(g) % 100);
  jid(g, to, sizeof to, chance(g, 70));
  jid(g, from, sizeof from, 1);
  stanza_id(g, id, sizeof id);
  if (kind < 60) { /* a chat message with a body */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "type", "chat");
    xsr_writer_attr(w, "id", id);
    if (chance(g, 10))
      xsr_writer_attr(w, "xml:lang", "en");
    xsr_writer_start(w, "body");
    prose(g, range(g, 8, 200));
    xsr_writer_end(w);
    el_ns(g, "active", "http://jabber.org/protocol/chatstates");
    if (chance(g, 40))
      el_ns(g, "request", "urn:xmpp:receipts");
    if (chance(g, 20)) {
      xsr_writer_start(w, "origin-id");
      xsr_writer_attr(w, "xmlns", "urn:xmpp:sid:0");
      xsr_writer_attr(w, "id", id);
      xsr_writer_end(w);
    }
    xsr_writer_end(w);
  } else if (kind < 72) { /* a chat state notification */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "type", "chat");
    el_ns(g, chance(g, 70) ? "composing" : "paused", "http://jabber.org/protocol/chatstates");
    xsr_writer_end(w);
  } else if (kind < 82) { /* a delivery receipt */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "id", id);
    xsr_writer_start(w, "received");
    xsr_writer_attr(w, "xmlns", "urn:xmpp:receipts");
    stanza_id(g, id, sizeof id);
    xsr_writer_attr(w, "id", id);
    xsr_writer_end(w);
    xsr_writer_end(w);
  } else { /* presence with entity capabilities */
    static const char *const shows[] = {"away", "chat", "dnd", "xa"};
    xsr_writer_start(w, "presence");
    xsr_writer_attr(w, "from", from);
    if (chance(g, 30))
      xsr_writer_attr(w, "to", to);
    if (chance(g, 50))
      el_text(g, "show", PICK(g, shows));
    if (chance(g, 40)) {
      xsr_writer_start(w, "status");
      prose(g, range(g, 5, 60));
      xsr_writer_end(w);
    }
    el_text(g, "priority", chance(g, 80) ? "5" : "-1");
    xsr_writer_start(w, "c");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/caps");
    xsr_writer_attr(w, "hash", "sha-1");
    xsr_writer_attr(w, "node", "https://gajim.org");
    char ver[32];
    for (size_t i = 0; i < 27; i++)
      ver[i] = base64_alphabet[rnd(g) & 63];
    ver[27] = '=';
    ver[28] = 0;
    xsr_writer_attr(w, "ver", ver);
    xsr_writer_end(w);
    xsr_writer_end(w);
  }
}

/* ---- iq ---------------------------------------------------------------- */

static void roster_item(gen *g) {
  static const char *const subs[] = {"both", "to", "from", "none"};
  static const char *const groups[] = {"Friends",  "Family",    "Work",
                                       "Capulets", "Montagues", "Ärzte & Pfleger"};
  char j[128];
  jid(g, j, sizeof j, 0);
  xsr_writer_start(g->w, "item");
  xsr_writer_attr(g->w, "jid", j);
  xsr_writer_attr(g->w, "name", PICK(g, users));
  xsr_writer_attr(g->w, "subscription", PICK(g, subs));
  if (chance(g, 10))
    xsr_writer_attr(g->w, "ask", "subscribe");
  for (size_t n = range(g, 0, 2); n; n--)
    el_text(g, "group", PICK(g, groups));
  xsr_writer_end(g->w);
}

static void iq_stanza(gen *g) {
  xsr_writer *w = g->w;
  char to[128], from[128], id[32];
  unsigned kind = (unsigned)(rnd(g) % 100);
  jid(g, to, sizeof to, 1);
  jid(g, from, sizeof from, 0);
  stanza_id(g, id, sizeof id);
  if (kind < 30) { /* roster push or result */
    int push = chance(g, 60);
    xsr_writer_start(w, "iq");
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "id", id);
    xsr_writer_attr(w, "type", push ? "set" : "result");
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "jabber:iq:roster");
    xsr_writer_attr(w, "ver", id);
    for (size_t n = push ? 1 : range(g, 3, 25); n; n--)
      roster_item(g);
    xsr_writer_end(w);
    xsr_writer_end(w);
  } else if (kind < 60) { /* disco#info result */
    static const char *const features[] = {"http://jabber.org/protocol/caps",
                                           "http://jabber.org/protocol/disco#info",
                                           "http://jabber.org/protocol/disco#items",
                                           "http://jabber.org/protocol/muc",
                                           "urn:xmpp:ping",
                                           "urn:xmpp:receipts",
                                           "urn:xmpp:carbons:2",
                                           "urn:xmpp:mam:2",
                                           "jabber:iq:version",
                                           "http://jabber.org/protocol/chatstates",
                                           "urn:xmpp:jingle:1",
                                           "urn:xmpp:jingle:apps:rtp:1",
                                           "http://jabber.org/protocol/pubsub+notify",
                                           "urn:xmpp:avatar:metadata+notify"};
    xsr_writer_start(w, "iq");
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "id", id);
    xsr_writer_attr(w, "type", "result");
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/disco#info");
    xsr_writer_attr(w, "node", "https://gajim.org#q07IKJEyjvHSyhy//CH0CxmKi8w=");
    xsr_writer_start(w, "identity");
    xsr_writer_attr(w, "category", "client");
    xsr_writer_attr(w, "type", "pc");
    xsr_writer_attr(w, "name", "Gajim");
    xsr_writer_attr(w, "xml:lang", "en");
    xsr_writer_end(w);
    for (size_t n = range(g, 5, 14); n; n--) {
      xsr_writer_start(w, "feature");
      xsr_writer_attr(w, "var", PICK(g, features));
      xsr_writer_end(w);
    }
    if (chance(g, 30)) { /* XEP-0128 extended info, with a prefixed namespace */
      xsr_writer_start(w, "df:x");
      xsr_writer_attr(w, "xmlns:df", "jabber:x:data");
      xsr_writer_attr(w, "type", "result");
      xsr_writer_start(w, "df:field");
      xsr_writer_attr(w, "var", "FORM_TYPE");
      xsr_writer_attr(w, "type", "hidden");
      el_text(g, "df:value", "urn:xmpp:dataforms:softwareinfo");
      xsr_writer_end(w);
      xsr_writer_start(w, "df:field");
      xsr_writer_attr(w, "var", "os");
      el_text(g, "df:value", "Linux");
      xsr_writer_end(w);
      xsr_writer_end(w);
    }
    xsr_writer_end(w);
    xsr_writer_end(w);
  } else { /* pubsub event: a microblog entry */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "type", "headline");
    xsr_writer_attr(w, "id", id);
    xsr_writer_start(w, "event");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/pubsub#event");
    xsr_writer_start(w, "items");
    xsr_writer_attr(w, "node", "urn:xmpp:microblog:0");
    for (size_t n = range(g, 1, 3); n; n--) {
      stanza_id(g, id, sizeof id);
      xsr_writer_start(w, "item");
      xsr_writer_attr(w, "id", id);
      xsr_writer_attr(w, "publisher", from);
      xsr_writer_start(w, "entry");
      xsr_writer_attr(w, "xmlns", "http://www.w3.org/2005/Atom");
      xsr_writer_start(w, "title");
      xsr_writer_attr(w, "type", "text");
      prose(g, range(g, 10, 80));
      xsr_writer_end(w);
      el_text(g, "published", "2024-03-01T12:34:56Z");
      el_text(g, "updated", "2024-03-01T12:34:56Z");
      xsr_writer_start(w, "author");
      el_text(g, "name", PICK(g, users));
      el_text(g, "uri", "xmpp:juliet@capulet.lit");
      xsr_writer_end(w);
      xsr_writer_start(w, "link");
      xsr_writer_attr(w, "rel", "alternate");
      xsr_writer_attr(w, "type", "text/html");
      xsr_writer_attr(w, "href", "https://capulet.lit/blog?post=1&lang=en");
      xsr_writer_end(w);
      xsr_writer_end(w);
      xsr_writer_end(w);
    }
    xsr_writer_end(w);
    xsr_writer_end(w);
    xsr_writer_end(w);
  }
}

/* ---- large ------------------------------------------------------------- */

/* Log-uniform in [lo, hi]: as many small as large stanzas per octave. */
static size_t log_uniform(gen *g, size_t lo, size_t hi) {
  double u = (double)(rnd(g) >> 11) / 9007199254740992.0; /* [0, 1) */
  size_t s = (size_t)((double)lo * exp(u * log((double)hi / (double)lo)));
  return s < lo ? lo : s > hi ? hi : s;
}

static void large_stanza(gen *g) {
  xsr_writer *w = g->w;
  char to[128], from[128], id[32];
  size_t size = log_uniform(g, 4096, 65536);
  unsigned kind = (unsigned)(rnd(g) % 100);
  jid(g, to, sizeof to, 1);
  jid(g, from, sizeof from, 1);
  stanza_id(g, id, sizeof id);
  if (kind < 50) { /* XEP-0047 in-band bytestream chunk */
    xsr_writer_start(w, "iq");
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "type", "set");
    xsr_writer_attr(w, "id", id);
    xsr_writer_start(w, "data");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/ibb");
    xsr_writer_attr(w, "seq", "17");
    xsr_writer_attr(w, "sid", "i781hf64");
    base64(g, (size - 200) & ~(size_t)3);
    xsr_writer_end(w);
    xsr_writer_end(w);
  } else if (kind < 80) { /* a long body */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "type", "chat");
    xsr_writer_attr(w, "id", id);
    xsr_writer_start(w, "body");
    prose(g, (size - 250) * 15 / 16); /* escapes and multi-byte words overshoot */
    xsr_writer_end(w);
    el_ns(g, "active", "http://jabber.org/protocol/chatstates");
    xsr_writer_end(w);
  } else { /* XEP-0231 bits of binary: an inline image */
    xsr_writer_start(w, "message");
    xsr_writer_attr(w, "from", from);
    xsr_writer_attr(w, "to", to);
    xsr_writer_attr(w, "id", id);
    xsr_writer_start(w, "body");
    xsr_writer_text(w, "a picture", 9);
    xsr_writer_end(w);
    xsr_writer_start(w, "data");
    xsr_writer_attr(w, "xmlns", "urn:xmpp:bob");
    xsr_writer_attr(w, "cid", "sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org");
    xsr_writer_attr(w, "max-age", "86400");
    xsr_writer_attr(w, "type", "image/png");
    base64(g, (size - 400) & ~(size_t)3);
    xsr_writer_end(w);
    xsr_writer_end(w);
  }
}

/* ---- adversarial ------------------------------------------------------- */

static void dense_refs(gen *g, size_t len) {
  static const char *const refs[] = {"&amp;",  "&lt;",  "&gt;",     "&quot;",
                                     "&apos;", "&#60;", "&#x263A;", "&#128512;",
                                     "&#xE9;", "&#10;", "x",        "&#x10FFFF;"};
  for (size_t n = 0; n < len;) {
    const char *r = PICK(g, refs);
    size_t l = strlen(r);
    xsr_writer_raw(g->w, r, l);
    n += l;
  }
}

static void long_name(gen *g, char *out, size_t len) {
  static const char start[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
  static const char rest[] = "abcdefghijklmnopqrstuvwxyz0123456789-._";
  out[0] = start[rnd(g) % (sizeof start - 1)];
  for (size_t i = 1; i < len; i++)
    out[i] = rest[rnd(g) % (sizeof rest - 1)];
  out[len] = 0;
}

static void adversarial_stanza(gen *g) {
  xsr_writer *w = g->w;
  char to[128], from[128], id[32];
  unsigned kind = (unsigned)(rnd(g) % 5);
  jid(g, to, sizeof to, 1);
  jid(g, from, sizeof from, 1);
  stanza_id(g, id, sizeof id);
  xsr_writer_start(w, "message");
  xsr_writer_attr(w, "to", to);
  xsr_writer_attr(w, "from", from);
  xsr_writer_attr(w, "id", id);
  switch (kind) {
  case 0: { /* nesting to the default depth limit (the stanza is depth 1) */
    unsigned depth = XSR_DEFAULT_MAX_DEPTH - 1;
    xsr_writer_start(w, "x");
    xsr_writer_attr(w, "xmlns", "urn:example:deep");
    for (unsigned i = 1; i < depth; i++) {
      xsr_writer_start(w, i % 2 ? "y" : "x");
      if (chance(g, 30))
        xsr_writer_attr(w, "n", "1");
    }
    xsr_writer_text(w, "bottom", 6);
    for (unsigned i = 0; i < depth; i++)
      xsr_writer_end(w);
    break;
  }
  case 1: { /* the maximum number of attributes, values needing escapes */
    char name[16], value[64];
    xsr_writer_start(w, "x");
    xsr_writer_attr(w, "xmlns", "urn:example:attrs");
    for (unsigned i = 1; i < XSR_DEFAULT_MAX_ATTRS; i++) {
      snprintf(name, sizeof name, "a%u", i);
      snprintf(value, sizeof value, "v%llu&<>'\"\t%s", (unsigned long long)(rnd(g) % 1000),
               chance(g, 50) ? "é" : "z");
      xsr_writer_attr(w, name, value);
    }
    xsr_writer_end(w);
    break;
  }
  case 2: /* dense entity and character references */
    xsr_writer_start(w, "body");
    dense_refs(g, range(g, 200, 2000));
    xsr_writer_end(w);
    break;
  case 3: { /* CDATA sections mixed with text */
    static const char *const cdata[] = {
        "<![CDATA[if (a < b && c > d) { return \"]]\"; }]]>",
        "<![CDATA[<message to='x'/> is not markup here & neither is &amp;]]>", "<![CDATA[]]>",
        "<![CDATA[ ] ]] ]>]]>"};
    xsr_writer_start(w, "body");
    for (size_t n = range(g, 2, 12); n; n--) {
      const char *c = PICK(g, cdata);
      xsr_writer_raw(w, c, strlen(c));
      if (chance(g, 50))
        prose(g, 20);
    }
    xsr_writer_end(w);
    break;
  }
  default: { /* names near the length limit, prefixed */
    char name[XSR_DEFAULT_MAX_NAME + 1], attr[600];
    size_t len = range(g, 900, XSR_DEFAULT_MAX_NAME - 2);
    name[0] = 'p';
    name[1] = ':';
    long_name(g, name + 2, len - 2);
    long_name(g, attr, range(g, 300, 599));
    xsr_writer_start(w, name);
    xsr_writer_attr(w, "xmlns:p", "urn:example:long-names");
    xsr_writer_attr(w, attr, "v");
    xsr_writer_text(w, "t", 1);
    xsr_writer_end(w);
    break;
  }
  }
  xsr_writer_end(w);
}

/* ---- single stanzas of a given size ------------------------------------ */

static void single_stanza(gen *g) {
  xsr_writer_start(g->w, "message");
  xsr_writer_attr(g->w, "to", "juliet@capulet.lit");
  xsr_writer_attr(g->w, "type", "chat");
  xsr_writer_start(g->w, "body");
  prose(g, g->single_size - 100);
  xsr_writer_end(g->w);
  xsr_writer_end(g->w);
}

/* ---- assembly ---------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static int buf_reserve(buf *b, size_t extra) {
  if (b->cap - b->len >= extra)
    return 0;
  size_t cap = b->cap ? b->cap : 65536;
  while (cap - b->len < extra)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p)
    return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* Writes one stanza (or the stream header/close when fn is NULL and
 * `which` says so) into the scratch buffer, growing it as needed. */
static int emit(gen *g, void (*fn)(gen *), int which, buf *scratch, size_t *out_len) {
  uint64_t saved = g->rng;
  for (;;) {
    xsr_writer w;
    size_t n;
    g->rng = saved;
    g->w = &w;
    xsr_writer_init(&w, scratch->p, scratch->cap);
    if (fn)
      fn(g);
    else if (which == 0)
      xsr_writer_stream_open(&w, "jabber:client", "example.com", NULL, NULL, "en");
    else
      xsr_writer_stream_close(&w);
    xsr_err e = xsr_writer_finish(&w, &n);
    if (e == XSR_OK) {
      *out_len = n;
      return 0;
    }
    if (e != XSR_ENOSPC) {
      fprintf(stderr, "xsr-bench: corpus generator bug: writer failed with %s\n", xsr_err_name(e));
      abort();
    }
    if (buf_reserve(scratch, n + 1) != 0)
      return -1;
  }
}

int xsr_bench_corpus_known(const char *kind) {
  for (size_t i = 0; xsr_bench_corpus_kinds[i]; i++)
    if (strcmp(kind, xsr_bench_corpus_kinds[i]) == 0)
      return 1;
  return strcmp(kind, "stanza1k") == 0 || strcmp(kind, "stanza1m") == 0;
}

int xsr_bench_corpus_make(const char *kind, size_t target, uint64_t seed, xsr_bench_corpus *out) {
  void (*fn)(gen *) = NULL;
  int single = 0;
  if (strcmp(kind, "chat") == 0)
    fn = chat_stanza;
  else if (strcmp(kind, "iq") == 0)
    fn = iq_stanza;
  else if (strcmp(kind, "large") == 0)
    fn = large_stanza;
  else if (strcmp(kind, "adversarial") == 0)
    fn = adversarial_stanza;
  else if (strcmp(kind, "stanza1k") == 0 || strcmp(kind, "stanza1m") == 0) {
    fn = single_stanza;
    single = 1;
  } else
    return -1;

  if (single)
    target = 1024 * 1024; /* stanza1m: one stanza; stanza1k: 1 MiB of them */
  memset(out, 0, sizeof *out);
  out->kind = kind;
  gen g = {.rng = seed, .w = NULL, .single_size = single && kind[7] == 'k' ? 1024 : 1024 * 1024};
  for (const char *k = kind; *k; k++)
    g.rng = (g.rng ^ (unsigned char)*k) * 0x100000001b3u; /* FNV-1a mix of the kind */
  buf stream = {0}, scratch = {0};
  size_t *sizes = NULL, nsizes = 0, capsizes = 0;
  size_t *reads = NULL;
  size_t n;
  if (buf_reserve(&scratch, 65536) != 0)
    goto oom;
  if (emit(&g, NULL, 0, &scratch, &n) != 0 || buf_reserve(&stream, n) != 0)
    goto oom;
  memcpy(stream.p, scratch.p, n);
  stream.len = n;
  size_t header_end = n;
  while (stream.len < target || nsizes == 0) {
    if (emit(&g, fn, 0, &scratch, &n) != 0 || buf_reserve(&stream, n + 1) != 0)
      goto oom;
    memcpy(stream.p + stream.len, scratch.p, n);
    stream.len += n;
    if (nsizes == capsizes) {
      size_t c = capsizes ? capsizes * 2 : 1024;
      size_t *s = realloc(sizes, c * sizeof *s);
      if (!s)
        goto oom;
      sizes = s;
      capsizes = c;
    }
    sizes[nsizes++] = n;
    if (chance(&g, 5)) /* a whitespace keepalive between stanzas */
      stream.p[stream.len++] = ' ';
  }
  if (emit(&g, NULL, 1, &scratch, &n) != 0 || buf_reserve(&stream, n) != 0)
    goto oom;
  memcpy(stream.p + stream.len, scratch.p, n);
  stream.len += n;

  /* The reads: the header, each stanza, the end tag (a keepalive space
   * goes with the stanza after it, as it would come in its own segment
   * before that one's). */
  reads = malloc((nsizes + 2) * sizeof *reads);
  if (!reads)
    goto oom;
  reads[0] = header_end;
  for (size_t i = 0; i < nsizes; i++) {
    size_t at = reads[i];
    if (stream.p[at] == ' ')
      at++;
    reads[i + 1] = at + sizes[i];
  }
  reads[nsizes + 1] = stream.len;
  out->reads = reads;
  out->nreads = nsizes + 2;

  out->data = stream.p;
  out->len = stream.len;
  out->stanzas = nsizes;
  double sum = 0;
  for (size_t i = 0; i < nsizes; i++)
    sum += (double)sizes[i];
  qsort(sizes, nsizes, sizeof *sizes, cmp_size);
  out->size_min = sizes[0];
  out->size_p50 = sizes[nsizes / 2];
  out->size_p90 = sizes[nsizes * 9 / 10];
  out->size_p99 = sizes[nsizes * 99 / 100];
  out->size_max = sizes[nsizes - 1];
  out->size_mean = sum / (double)nsizes;
  free(sizes);
  free(scratch.p);
  return 0;
oom:
  free(reads);
  free(sizes);
  free(scratch.p);
  free(stream.p);
  return -1;
}

void xsr_bench_corpus_free(xsr_bench_corpus *c) {
  free(c->data);
  free(c->reads);
  c->data = NULL;
  c->reads = NULL;
  c->len = c->nreads = 0;
}
