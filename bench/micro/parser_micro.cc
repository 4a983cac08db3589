/* SPDX-License-Identifier: MIT */
// Micro benchmarks of the parser's hot pieces, each reporting bytes/s:
// the markup scan (dispatched SIMD and scalar), the character-data scan
// against it, UTF-8 decoding, name and attribute parsing (whole parser on
// attribute- and name-heavy stanzas), entity decoding, and the whole parser
// on each corpus at several chunk sizes.  Inputs come from the xsr-bench
// corpus generator, so they are deterministic.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "corpus.h"
#include "xsr/parser.h"
#include "xsr/stanza.h"
#include "xsr/writer.h"

extern "C" {
#include "internal.h"
}

namespace {

std::string make_corpus(const char *kind, size_t bytes) {
  xsr_bench_corpus c;
  if (xsr_bench_corpus_make(kind, bytes, XSR_BENCH_SEED, &c) != 0) {
    std::fprintf(stderr, "out of memory generating %s\n", kind);
    std::abort();
  }
  std::string s(c.data, c.len);
  xsr_bench_corpus_free(&c);
  return s;
}

// A stream of `count` copies of `stanza`.
std::string make_stream(const std::string &stanza, size_t count) {
  std::string s = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
  for (size_t i = 0; i < count; i++)
    s += stanza;
  s += "</stream:stream>";
  return s;
}

int count_stanza(void *user, const xsr_stanza *) {
  ++*static_cast<size_t *>(user);
  return 0;
}

const xsr_parser_callbacks counting_callbacks = {nullptr, count_stanza, nullptr};

// Parses `data` in `chunk`-byte pieces; aborts the benchmark on failure.
void parse_all(benchmark::State &state, const std::string &data, size_t chunk) {
  size_t total = 0;
  for (auto _ : state) {
    size_t n = 0;
    xsr_parser *p = xsr_parser_new(nullptr, &counting_callbacks, &n, nullptr);
    for (size_t off = 0; off < data.size(); off += chunk) {
      size_t k = std::min(chunk, data.size() - off);
      xsr_err e = xsr_parser_feed(p, data.data() + off, k);
      if (e != XSR_OK) {
        xsr_parser_free(p);
        state.SkipWithError(xsr_err_name(e));
        return;
      }
    }
    xsr_parser_free(p);
    total += n;
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.counters["stanzas/s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}

// ---- markup scan ------------------------------------------------------------

// Scans the input for the stops of character data ('<', '&', ']'), restarting
// after each hit, as the parser does in text.
void scan3(benchmark::State &state, const char *kind, bool scalar) {
  xsr__scan_init();
  std::string data = make_corpus(kind, 1 << 20);
  const char *s = data.data(), *e = s + data.size();
  for (auto _ : state) {
    size_t hits = 0;
    for (const char *p = s; p < e; p++) {
      p = scalar ? xsr__scan3_scalar(p, e, '<', '&', ']') : xsr__scan3(p, e, '<', '&', ']');
      hits++;
    }
    benchmark::DoNotOptimize(hits);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.SetLabel(scalar ? "scalar" : xsr__scan_impl());
}
void BM_scan3(benchmark::State &state, const char *kind) { scan3(state, kind, false); }
void BM_scan3_scalar(benchmark::State &state, const char *kind) { scan3(state, kind, true); }
BENCHMARK_CAPTURE(BM_scan3, chat, "chat");
BENCHMARK_CAPTURE(BM_scan3_scalar, chat, "chat");
BENCHMARK_CAPTURE(BM_scan3, large, "large");
BENCHMARK_CAPTURE(BM_scan3_scalar, large, "large");

// Character data the way the parser walks it: scan, and at a stop on a byte
// >= 0x80 decode the run of non-ASCII characters there, then scan again.
// xsr__scan3 stops at every such run; xsr__scan_text (AVX2) validates UTF-8
// in the vector loop and goes straight through valid text.  64 KiB of plain
// ASCII words, and of chat-like mixed Latin, Japanese and emoji.
std::string text_input(bool utf8) {
  const char *unit = utf8 ? "caf\xC3\xA9 Gr\xC3\xBC\xC3\x9F"
                            "e \xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF "
                            "\xF0\x9F\x91\x8D "
                          : "the quick brown fox jumps over the lazy dog, ";
  std::string s;
  while (s.size() + std::strlen(unit) <= (64u << 10))
    s += unit;
  return s;
}

enum walk_scanner { WALK_SCAN3, WALK_SCAN_TEXT, WALK_SCAN_CONTENT };

// Walks data with one scanner the way the parser does: at a stop on one of
// the five predefined entities, step over it (what the parser's state
// machine does per reference); at a byte >= 0x80, decode the run of
// non-ASCII characters there; then scan again.
void text_walk(benchmark::State &state, const std::string &data, walk_scanner scanner) {
  xsr__scan_init();
  const char *s = data.data(), *e = s + data.size();
  for (auto _ : state) {
    size_t stops = 0;
    unsigned escaped = 0;
    for (const char *p = s; p < e;) {
      p = scanner == WALK_SCAN3       ? xsr__scan3(p, e, '<', '&', '>')
          : scanner == WALK_SCAN_TEXT ? xsr__scan_text(p, e, '<', '&', '>')
                                      : xsr__scan_content(p, e, &escaped);
      if (p >= e)
        break;
      stops++;
      if (*p == '&') {
        size_t n = xsr__predef_len(p, e);
        if (!n) {
          state.SkipWithError("unexpected reference in the benchmark input");
          return;
        }
        p += n;
        continue;
      }
      if (static_cast<unsigned char>(*p) < 0x80) {
        p++;
        continue;
      }
      while (p < e && static_cast<unsigned char>(*p) >= 0x80) {
        uint32_t cp;
        int n = xsr__utf8_decode(reinterpret_cast<const unsigned char *>(p),
                                 reinterpret_cast<const unsigned char *>(e), &cp);
        if (n <= 0) {
          state.SkipWithError("invalid UTF-8 in the benchmark input");
          return;
        }
        p += n;
      }
    }
    benchmark::DoNotOptimize(stops);
    benchmark::DoNotOptimize(escaped);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.SetLabel(xsr__scan_impl());
}
void BM_text_scan3(benchmark::State &state, bool utf8) {
  text_walk(state, text_input(utf8), WALK_SCAN3);
}
void BM_text_scan_text(benchmark::State &state, bool utf8) {
  text_walk(state, text_input(utf8), WALK_SCAN_TEXT);
}
BENCHMARK_CAPTURE(BM_text_scan3, ascii, false);
BENCHMARK_CAPTURE(BM_text_scan_text, ascii, false);
BENCHMARK_CAPTURE(BM_text_scan3, utf8, true);
BENCHMARK_CAPTURE(BM_text_scan_text, utf8, true);

// Element content with references, as in chat bodies: the walk above over
// xsr__scan_text, stepping over each predefined entity where it stops (what
// the parser's state machine did per reference), against xsr__scan_content,
// which passes them inside its vector loop.  64 KiB of the utf8 text with
// "&amp;", "&lt;3" and "&apos;" every few words.
std::string content_input() {
  const char *unit = "caf\xC3\xA9 a&amp;b Gr\xC3\xBC\xC3\x9F"
                     "e &lt;3 \xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB it&apos;s \xF0\x9F\x91\x8D ";
  std::string s;
  while (s.size() + std::strlen(unit) <= (64u << 10))
    s += unit;
  return s;
}

void BM_content_scan_text(benchmark::State &state) {
  text_walk(state, content_input(), WALK_SCAN_TEXT);
}
BENCHMARK(BM_content_scan_text);

void BM_content_scan_content(benchmark::State &state) {
  text_walk(state, content_input(), WALK_SCAN_CONTENT);
}
BENCHMARK(BM_content_scan_content);

// ---- UTF-8 ------------------------------------------------------------------

// Decodes every multi-byte sequence of non-ASCII-heavy text.
void BM_utf8_decode(benchmark::State &state) {
  std::string text;
  const char *words[] = {"こんにちは", "世界", "привет", "😀", "Grüße", "déjà", "Ωmega", "→"};
  for (size_t i = 0; text.size() < (64u << 10); i++)
    text += words[i % 8];
  const unsigned char *s = reinterpret_cast<const unsigned char *>(text.data());
  const unsigned char *e = s + text.size();
  for (auto _ : state) {
    uint32_t sum = 0, cp = 0;
    for (const unsigned char *p = s; p < e;) {
      if (*p < 0x80) {
        p++;
        continue;
      }
      int n = xsr__utf8_decode(p, e, &cp);
      if (n <= 0) {
        state.SkipWithError("invalid UTF-8 in the benchmark input");
        return;
      }
      sum += cp;
      p += n;
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_utf8_decode);

// The same text as a message body through the whole parser (validation in
// context).
void BM_parse_utf8_body(benchmark::State &state) {
  std::string body;
  const char *words[] = {"こんにちは ", "世界 ", "привет ", "😀 ", "Grüße ", "déjà "};
  for (size_t i = 0; body.size() < 4000; i++)
    body += words[i % 6];
  std::string data = make_stream("<message><body>" + body + "</body></message>", 256);
  parse_all(state, data, 65536);
}
BENCHMARK(BM_parse_utf8_body);

// ---- names and attributes --------------------------------------------------

void BM_parse_attributes(benchmark::State &state) {
  std::string st = "<message to='a@b/c' from='d@e/f' id='x1' type='chat'><x xmlns='urn:a'";
  for (int i = 0; i < 60; i++)
    st += " attr" + std::to_string(i) + "='value number " + std::to_string(i) + "'";
  st += "/></message>";
  parse_all(state, make_stream(st, 1024), 65536);
}
BENCHMARK(BM_parse_attributes);

void BM_parse_long_names(benchmark::State &state) {
  std::string name = "p:" + std::string(1000, 'n');
  std::string attr(500, 'a');
  std::string st =
      "<message><" + name + " xmlns:p='urn:long' " + attr + "='v'>t</" + name + "></message>";
  parse_all(state, make_stream(st, 1024), 65536);
}
BENCHMARK(BM_parse_long_names);

// ---- entity decoding -------------------------------------------------------

std::string dense_refs(size_t n) {
  const char *refs[] = {"&amp;", "&lt;",     "&gt;",      "&quot;", "&apos;",
                        "&#60;", "&#x263A;", "&#128512;", "text "};
  std::string s;
  for (size_t i = 0; s.size() < n; i++)
    s += refs[(i * 7) % 9];
  return s;
}

void BM_decode_text(benchmark::State &state) {
  std::string raw = dense_refs(64u << 10);
  std::string out(raw.size(), '\0');
  for (auto _ : state) {
    size_t n = 0;
    xsr_err e = xsr_decode_text(xsr_span{raw.data(), raw.size()}, &out[0], out.size(), &n);
    if (e != XSR_OK) {
      state.SkipWithError(xsr_err_name(e));
      return;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_decode_text);

void BM_decode_attr(benchmark::State &state) {
  std::string raw = dense_refs(64u << 10);
  std::string out(raw.size(), '\0');
  for (auto _ : state) {
    size_t n = 0;
    xsr_err e = xsr_decode_attr(xsr_span{raw.data(), raw.size()}, &out[0], out.size(), &n);
    if (e != XSR_OK) {
      state.SkipWithError(xsr_err_name(e));
      return;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_decode_attr);

// Text without references: the common case, which should be a copy.
void BM_decode_text_plain(benchmark::State &state) {
  std::string raw;
  while (raw.size() < (64u << 10))
    raw += "plain words without any references at all, ";
  std::string out(raw.size(), '\0');
  for (auto _ : state) {
    size_t n = 0;
    xsr_decode_text(xsr_span{raw.data(), raw.size()}, &out[0], out.size(), &n);
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_decode_text_plain);

// ---- the whole parser on the corpora ---------------------------------------

void BM_parse_corpus(benchmark::State &state, const char *kind) {
  static std::string cache[8];
  static const char *kinds[8];
  size_t slot = 0;
  while (kinds[slot] && std::strcmp(kinds[slot], kind) != 0)
    slot++;
  if (!kinds[slot]) {
    kinds[slot] = kind;
    cache[slot] = make_corpus(kind, 1 << 20);
  }
  parse_all(state, cache[slot], static_cast<size_t>(state.range(0)));
}
BENCHMARK_CAPTURE(BM_parse_corpus, chat, "chat")->Arg(1)->Arg(1460)->Arg(65536);
BENCHMARK_CAPTURE(BM_parse_corpus, iq, "iq")->Arg(1460)->Arg(65536);
BENCHMARK_CAPTURE(BM_parse_corpus, large, "large")->Arg(1460)->Arg(65536);
BENCHMARK_CAPTURE(BM_parse_corpus, adversarial, "adversarial")->Arg(1460)->Arg(65536);

} // namespace
