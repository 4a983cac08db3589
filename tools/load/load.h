/* SPDX-License-Identifier: MIT */
/*
 * tools/load/load.h: what the parts of xsr-load share (options, the run's
 * phases, threads, clients, counters).  Private to the tool.
 *
 *   main.c    options, the run's phases and the main thread's supervision,
 *             the progress line, idle mode (RSS), the exit status
 *   client.c  one client connection: libuv socket, output batching, xsr's
 *             parser on everything the server sends, the c2s login (SASL
 *             through libgsasl's client side, bind, session, presence)
 *   sched.c   traffic: the patterns' stanzas, closed and open loop, and the
 *             receiver's checks (misrouted, duplicated, reordered, latency)
 *   report.c  the summary table and the --json document (yajl)
 *   hist.c    the latency histogram
 *
 * Threads: the main thread parses options, starts N loop threads and then
 * only watches them (atomics) and tells them the phase; each loop thread
 * owns its clients, counters and histograms.  A sender's acknowledgement
 * counter (`acked`) is the one field another thread writes: the receiver's
 * thread, atomically; the sender's thread is woken with uv_async_send.
 */
#ifndef XSR_TOOLS_LOAD_H
#define XSR_TOOLS_LOAD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gsasl.h>
#include <uv.h>
#include <xsr/xsr.h>

#include "hist.h"

enum xl_pattern { XL_RING = 0, XL_BARE, XL_PRESENCE, XL_PING };
enum xl_mech { XL_MECH_AUTO = 0, XL_MECH_SCRAM256, XL_MECH_SCRAM1, XL_MECH_PLAIN };

#define XL_MAX_THREADS 256
#define XL_NAME_MAX    256
#define XL_WINDOW      1024u /* receiver's duplicate-detection window, in sequence numbers */

typedef struct xl_opts {
  char host[XL_NAME_MAX];
  unsigned port;
  char server[XL_NAME_MAX + 8]; /* as given */
  char domain[XL_NAME_MAX];
  char prefix[64];
  char password[XL_NAME_MAX];
  unsigned clients;
  double duration_s, warmup_s, drain_s, ramp, login_timeout_s;
  unsigned in_flight; /* closed loop: W */
  double rate;        /* open loop: R msg/s in total; 0: closed loop */
  int pattern;
  int mech;
  unsigned threads;
  int idle;
  long server_pid;
  const char *json;
  int quiet;
  struct sockaddr_storage addr;
} xl_opts;

/* Run phases, in order (xl_run.phase). */
enum {
  XL_PH_LOGIN = 0, /* connecting and logging in */
  XL_PH_RUN,       /* the schedule in xl_run's times applies (warm-up, measure, then drain) */
  XL_PH_CLOSE,     /* close every stream now */
  XL_PH_EXIT       /* every thread has closed its clients: close the loops */
};

struct xl_thread;

/* One client connection (one account, one resource). */
typedef struct xl_client {
  uv_tcp_t tcp;
  struct xl_thread *t;
  unsigned idx;   /* 0..K-1; the account is PREFIX<idx+1> */
  unsigned state; /* client.c's XL_C_* */
  unsigned peer;  /* receiver of what this client sends */
  xsr_parser *parser;
  Gsasl_session *sasl;
  int restart;      /* <success/> seen: restart the parser after the feed */
  int need_session; /* the server requires the legacy <session/> */
  char *jid;        /* the full JID bound */
  int closing, closed_handle, dead;
  /* Output: `out` accumulates, `wbuf` is being written (uv_write). */
  char *out, *wbuf;
  size_t outlen, outcap, wlen, wcap;
  int writing, dirty;
  struct xl_client *next_dirty;
  uv_write_t wreq;
  uv_connect_t creq;
  /* Sender side. */
  uint64_t seq;           /* next sequence number */
  _Atomic uint64_t acked; /* delivered (counted by the receiver's thread) */
  int remote_peer;        /* the receiver lives on another thread */
  /* Receiver side (messages from this client's one sender). */
  uint64_t rx_hi;                  /* highest sequence received + 1 */
  uint64_t rx_win[XL_WINDOW / 64]; /* bit (s % XL_WINDOW): s received, for s in [hi-WINDOW, hi) */
  /* Sender side again: bounces of this client's own messages, as rx_*, so
   * that a bounce the server repeats is counted (and acknowledged) once. */
  uint64_t bx_hi;
  uint64_t bx_win[XL_WINDOW / 64];
} xl_client;

/* Counters of one thread (merged at the end). */
typedef struct xl_counts {
  uint64_t sent, delivered, measured, misrouted, duplicated, reordered, errors, bounces, fanout;
  uint64_t login_ok, login_failed;
  uint64_t clients_sent, clients_received; /* clients that sent / received a payload stanza */
  double behind_s;                         /* open loop: the most the schedule was late */
} xl_counts;

typedef struct xl_thread {
  unsigned id;
  uv_thread_t thr;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  uv_prepare_t flush;
  uv_timer_t closetimer;
  struct xl_run *run;
  xl_client *clients; /* [first, first + n) of the run's clients */
  unsigned first, n;
  unsigned started, in_progress, ready, done; /* login accounting */
  unsigned live;                              /* client handles not yet closed */
  unsigned own_handles;                       /* the thread's own handles not yet closed */
  int finishing, mech_used;
  xl_client *dirty;
  uint64_t wake_mask[XL_MAX_THREADS / 64]; /* threads to wake at the next flush */
  int tfd;                                 /* open loop: timerfd */
  uv_poll_t olpoll;                        /* open loop: its readiness */
  int ol_armed, started_sending, any_wake;
  uint64_t last_pub_us;
  Gsasl *gsasl;
  xsr_parser_pool *pool;
  xsr_parser_config pcfg;
  char rbuf[65536];
  /* SCRAM: the salted password of the last (salt, iterations) seen, so
   * accounts sharing a salt cost one PBKDF2. */
  char salted_key[256], salted_val[256];
  /* Traffic. */
  xl_client **remote_senders; /* senders whose receiver is on another thread */
  unsigned nremote;
  unsigned rr;        /* open loop: next sender (round robin) */
  uint64_t ol_next;   /* open loop: index of the next message in this thread's schedule */
  double ol_interval; /* open loop: microseconds between this thread's messages */
  int sending_over, closing;
  uint64_t ramp_start_us;
  xl_counts c;
  xl_hist lat;      /* latency of messages sent in the measure window */
  xl_hist interval; /* latency over the last progress interval */
  /* Published for the main thread (relaxed atomics). */
  _Atomic uint64_t pub_sent, pub_delivered, pub_measured, pub_ready, pub_failed, pub_dead, pub_p99;
  _Atomic int finished; /* every client closed; waits for XL_PH_EXIT */
  char error[512];      /* the first login/stream error; read by main after join */
} xl_thread;

typedef struct xl_run {
  xl_opts o;
  xl_thread *threads;
  xl_client **all;   /* K pointers, by index */
  uint64_t epoch_ns; /* uv_hrtime() at start: times are microseconds since then */
  unsigned nstarted; /* threads running (main thread only) */
  _Atomic int phase;
  /* Set before phase turns XL_PH_RUN (us since epoch). */
  uint64_t t_start, t_measure, t_end;
} xl_run;

/* Microseconds since the run's epoch. */
uint64_t xl_now_us(const xl_run *r);

/* ---- client.c (each on the client's own thread) ---- */
int xl_thread_start(xl_thread *t);                 /* sets up and starts the thread (main thread) */
void xl_thread_cleanup(xl_thread *t);              /* after the join */
void xl_thread_wake(xl_thread *from, unsigned to); /* wakes thread `to` at from's next flush */
void xl_client_send(xl_client *c, const char *s,
                    size_t n); /* queue bytes; flushed once per iteration */
char *xl_client_reserve(xl_client *c,
                        size_t n); /* room for n bytes at the end of out; NULL: no memory */
void xl_client_commit(xl_client *c, size_t n);
void xl_client_fail(xl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xl_thread_errorf(xl_thread *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- sched.c ---- */
/* Sends what the closed loop allows for sender c now (its thread). */
void xl_sched_pump(xl_client *c);
/* The thread's phase tick: start/stop sending, open loop scheduling. */
void xl_sched_tick(xl_thread *t);
/* A stanza whose id is one of ours: the receiver's checks. */
void xl_sched_receive(xl_client *c, const xsr_stanza *st);
/* Wake-up from another thread: receivers there delivered our messages. */
void xl_sched_remote_acks(xl_thread *t);
/* Sets up the open loop's timer (before the thread starts); 0 or -1. */
int xl_sched_init(xl_thread *t);

/* ---- report.c ---- */
typedef struct xl_result {
  xl_counts c;
  xl_hist lat;
  uint64_t lost;
  double login_s, measure_s, msgs_per_s, user_s, sys_s;
  long rss_before, rss_after;
  int ok;
  const char *mechanism;
  const char *error; /* the first error seen (login, stream, connection), or NULL */
} xl_result;
void xl_report_table(const xl_opts *o, const xl_result *res);
int xl_report_json(const xl_opts *o, const xl_result *res, const char *path);
const char *xl_pattern_name(int p);
const char *xl_mech_name(int m);

#endif
