/* SPDX-License-Identifier: MIT */
// Micro benchmarks of the writer: a typical chat message, escape-heavy text,
// and long plain text (the copy path); bytes/s of output.
#include <benchmark/benchmark.h>

#include <string>

#include "xsr/writer.h"

namespace {

void BM_writer_chat_message(benchmark::State &state) {
  static const char body[] = "Art thou not Romeo, and a Montague? Wherefore art thou Romeo?";
  char buf[1024];
  size_t total = 0;
  for (auto _ : state) {
    xsr_writer w;
    xsr_writer_init(&w, buf, sizeof buf);
    xsr_writer_start(&w, "message");
    xsr_writer_attr(&w, "to", "juliet@capulet.lit/balcony");
    xsr_writer_attr(&w, "from", "romeo@montague.lit/orchard");
    xsr_writer_attr(&w, "type", "chat");
    xsr_writer_attr(&w, "id", "a81f-22c9");
    xsr_writer_start(&w, "body");
    xsr_writer_text(&w, body, sizeof body - 1);
    xsr_writer_end(&w);
    xsr_writer_start(&w, "active");
    xsr_writer_attr(&w, "xmlns", "http://jabber.org/protocol/chatstates");
    xsr_writer_end(&w);
    xsr_writer_end(&w);
    size_t n;
    if (xsr_writer_finish(&w, &n) != XSR_OK) {
      state.SkipWithError("writer failed");
      return;
    }
    total += n;
    benchmark::DoNotOptimize(buf);
  }
  state.SetBytesProcessed(static_cast<int64_t>(total));
}
BENCHMARK(BM_writer_chat_message);

void write_text(benchmark::State &state, const std::string &text, bool attr) {
  std::string buf(text.size() * 6 + 64, '\0');
  size_t total = 0;
  for (auto _ : state) {
    xsr_writer w;
    xsr_writer_init(&w, &buf[0], buf.size());
    xsr_writer_start(&w, "b");
    if (attr)
      xsr_writer_attr_n(&w, "v", 1, text.data(), text.size());
    else
      xsr_writer_text(&w, text.data(), text.size());
    xsr_writer_end(&w);
    size_t n;
    if (xsr_writer_finish(&w, &n) != XSR_OK) {
      state.SkipWithError("writer failed");
      return;
    }
    total += n;
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(total));
}

std::string repeat(const char *piece, size_t bytes) {
  std::string s;
  while (s.size() < bytes)
    s += piece;
  return s;
}

void BM_writer_text_plain(benchmark::State &state) {
  write_text(state, repeat("plain ascii words in a long body ", 64u << 10), false);
}
BENCHMARK(BM_writer_text_plain);

void BM_writer_text_utf8(benchmark::State &state) {
  write_text(state, repeat("こんにちは世界 привет déjà 😀 ", 64u << 10), false);
}
BENCHMARK(BM_writer_text_utf8);

void BM_writer_text_escapes(benchmark::State &state) {
  write_text(state, repeat("a<b & c>d ", 64u << 10), false);
}
BENCHMARK(BM_writer_text_escapes);

void BM_writer_attr_escapes(benchmark::State &state) {
  write_text(state, repeat("it's \"quoted\" & <tagged>\t", 64u << 10), true);
}
BENCHMARK(BM_writer_attr_escapes);

} // namespace
