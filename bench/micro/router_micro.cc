/* SPDX-License-Identifier: MIT */
// google-benchmark micro cases for the router core: JID normalisation
// (ASCII fast path and Unicode slow path), table lookups, and a full-JID
// route + pop + release, without any parsing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

extern "C" {
#include "xsr/jid.h"
#include "xsr/router.h"
}

static void BM_jid_parse_ascii(benchmark::State &state) {
  const char *in = "Juliet@Capulet.example/Balcony-1234";
  char buf[XSR_JID_MAX];
  xsr_jid j;
  for (auto _ : state) {
    xsr_err rc = xsr_jid_parse(in, std::strlen(in), buf, sizeof buf, &j, nullptr);
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(j);
  }
}
BENCHMARK(BM_jid_parse_ascii);

static void BM_jid_parse_unicode(benchmark::State &state) {
  const char *in = "\xc3\x89lodie@m\xc3\xbcnchen.example/caf\xc3\xa9";
  char buf[XSR_JID_MAX];
  xsr_jid j;
  for (auto _ : state) {
    xsr_err rc = xsr_jid_parse(in, std::strlen(in), buf, sizeof buf, &j, nullptr);
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_jid_parse_unicode);

namespace {
struct Fixture {
  xsr_router *r = nullptr;
  std::vector<xsr_session *> sess;
  std::vector<std::string> raw;
  std::vector<xsr_stanza> views;
  xsr_session *sender = nullptr;
  explicit Fixture(int n) {
    xsr_router_thread_register();
    r = xsr_router_new(nullptr, nullptr);
    for (int i = 0; i < n; i++) {
      char jid[64];
      std::snprintf(jid, sizeof jid, "user%d@example.com/res", i);
      xsr_session *s;
      xsr_session_new(xsr_router_worker(r, 0), jid, std::strlen(jid), nullptr, &s);
      xsr_session_bind_rcu(s);
      xsr_session_set_presence_rcu(s, 1, 0);
      sess.push_back(s);
      char m[128];
      std::snprintf(m, sizeof m, "<message to='%s' type='chat'><body>hi</body></message>", jid);
      raw.emplace_back(m);
      if ((i & 255) == 0)
        xsr_router_quiescent();
    }
    // Let the table's background resize (which waits for grace periods)
    // finish before measuring.
    for (int k = 0; k < 20; k++) {
      xsr_router_thread_offline();
      struct timespec ts = {0, 5000000};
      nanosleep(&ts, nullptr);
      xsr_router_thread_online();
    }
    for (auto &m : raw) {
      xsr_stanza st;
      std::memset(&st, 0, sizeof st);
      st.raw = {m.data(), m.size()};
      st.name = {m.data() + 1, 7};
      st.ns = XSR_NS_CLIENT;
      st.to = {m.data() + 13, m.find('\'', 13) - 13};
      st.type = {m.data() + m.find("chat"), 4};
      views.push_back(st);
    }
    xsr_session_new(xsr_router_worker(r, 0), "sender@example.com/s", 20, nullptr, &sender);
  }
  ~Fixture() {
    for (auto *s : sess)
      xsr_session_close_owner(s);
    xsr_session_close_owner(sender);
    xsr_router_thread_unregister();
    xsr_router_free(r);
  }
};
} // namespace

static void BM_router_lookup(benchmark::State &state) {
  Fixture f(static_cast<int>(state.range(0)));
  std::vector<xsr_jid> jids;
  for (auto *s : f.sess)
    jids.push_back(xsr_session_jid(s));
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(xsr_router_find_rcu(f.r, &jids[i]));
    if (++i == jids.size())
      i = 0;
    if ((i & 1023) == 0)
      xsr_router_quiescent();
  }
}
BENCHMARK(BM_router_lookup)->Arg(1000)->Arg(100000);

static void BM_router_route_full_jid(benchmark::State &state) {
  Fixture f(1000);
  xsr_worker *w = xsr_router_worker(f.r, 0);
  xsr_msg *batch[64];
  size_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < 64; k++) {
      xsr_route_result res;
      xsr_router_route_rcu(f.r, f.sender, &f.views[i], &res);
      if (++i == f.views.size())
        i = 0;
    }
    size_t n = xsr_worker_pop_owner(w, batch, 64);
    for (size_t k = 0; k < n; k++)
      xsr_msg_release(batch[k]);
    xsr_router_quiescent();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_router_route_full_jid);
