/* SPDX-License-Identifier: MIT */
/*
 * server/c2s_internal.h: the connection struct and the helpers that c2s.c
 * (negotiation, routing) and local.c (what the server answers itself) share.
 * Private to server/; never installed.
 *
 * Threads.  Everything here runs on the connection's worker thread, except
 * the fields marked "any thread": another worker reaches a connection only
 * through a session it found under RCU (xsr_session_user()), and then only
 * reads `last` and sets `kicked`.  A connection whose session was ever
 * bound is therefore freed after a grace period (call_rcu), never at once.
 */
#ifndef XSR_SERVER_C2S_INTERNAL_H
#define XSR_SERVER_C2S_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <urcu-qsbr.h>

#include "c2s.h"
#include "xsr/writer.h"

/* ThreadSanitizer cannot see liburcu's hand-off from call_rcu() to its
 * callback (an uninstrumented library): annotate it, as router/table.c does.
 * The grace period itself is covered by tests/tsan-urcu.supp, which names
 * the callbacks below (xsr__c2s_free_rcu, xsr__c2s_pres_free_rcu). */
#if defined(__SANITIZE_THREAD__)
#define XSR__C2S_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XSR__C2S_TSAN 1
#endif
#endif
#ifdef XSR__C2S_TSAN
#include <sanitizer/tsan_interface.h>
#define XSR__C2S_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define XSR__C2S_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define XSR__C2S_TSAN_RELEASE(p) ((void)0)
#define XSR__C2S_TSAN_ACQUIRE(p) ((void)0)
#endif

/* The most addresses a session's directed presence is remembered for
 * (RFC 6121 4.6.3); directed available presence to more while these are
 * remembered is still routed, but gets no unavailable when the session
 * goes. */
#define XSR__C2S_DIRECTED_MAX 64

/* An address the session sent directed available presence to: its
 * normalised JID (full or bare, as given), not NUL-terminated. */
typedef struct xsr__c2s_directed {
  size_t len;
  char jid[];
} xsr__c2s_directed;

/* A presence stanza as others receive it (stamped 'from', no 'to'), published
 * under RCU for probes from other threads. */
typedef struct xsr__c2s_pres {
  struct rcu_head rcu;
  size_t len;
  char data[];
} xsr__c2s_pres;

struct xsr__c2s {
  struct rcu_head rcu; /* the deferred free */
  const xsr__server *srv;
  const xsr__c2s_io *io;
  void *io_user;
  xsr_parser *parser;
  xsr__sasl_session *sasl;     /* until authenticated */
  const xsr__users *users;     /* the users file the SASL session and account use
                                  (a host of it: xsr__users_host finds c's) */
  const xsr__account *account; /* in `users`; NULL for ANONYMOUS or before auth */
  char *local;                 /* authenticated localpart (until bound) */
  size_t local_len;
  xsr_session *session; /* once bound */
  /* Any thread: the last available presence broadcast (NULL while
   * unavailable), replaced with atomic exchanges by the owner and cleared by
   * a kicker (both retire what they took out, so each is freed once). */
  _Atomic(xsr__c2s_pres *) last;
  /* Any thread: set by the worker whose new bind replaced this session
   * (RFC 6120 7.7.2.2); that worker has already unbound it and sent its
   * unavailable presence. */
  atomic_int kicked;
  /* Owner only: the addresses outside the account's presence subscriptions
   * that the session sent directed available presence to and no directed
   * unavailable since (RFC 6121 4.6.3), told it is unavailable when the
   * session goes unavailable or ends (local.c); a lazily allocated array of
   * XSR__C2S_DIRECTED_MAX, freed with the connection. */
  xsr__c2s_directed **directed;
  unsigned ndirected;
  unsigned worker;
  unsigned failures;           /* SASL failures sent */
  xsr__sasl_condition delayed; /* the failure whose delay runs */
  unsigned header : 1;         /* our stream header was sent (this stream) */
  unsigned authed : 1;         /* SASL succeeded */
  unsigned restart : 1;        /* <success/> sent: restart the parser */
  unsigned in_exchange : 1;    /* a SASL exchange waits for <response/> */
  unsigned work : 1;           /* xsr__sasl_work() queued and not done */
  unsigned delay : 1;          /* a failure delay runs */
  unsigned blocked : 1;        /* a stanza was refused (XSR_RETRY) */
  unsigned read_paused : 1;    /* what io->read_pause was last told */
  unsigned available : 1;      /* the session sent available presence */
  unsigned closed : 1;         /* the stream is over (io->close or peer gone) */
  unsigned closing : 1;        /* our </stream:stream> is queued behind the answers */
  unsigned finished : 1;       /* the session's end was handled */
  unsigned free_pending : 1;   /* xsr__c2s_free() waits for the work's done */
  unsigned users_ref : 1;      /* `users` holds a reference (srv->users_live) */
  unsigned host : 16;          /* the domain served: index into srv's (c2s.h) */
};

/* The connection's host: the domain its stream header named (c2s.h). */
xsr_span xsr__c2s_host(const xsr__c2s *c);

/* The users table in force (srv->users_live, else srv->users), without a
 * reference: valid until the calling thread's next quiescent state. */
const xsr__users *xsr__c2s_users_now(const xsr__server *srv);

/* Builds output with an xsr_writer; called twice when the first buffer was
 * too small (must write the same both times). */
typedef void (*xsr__c2s_build_fn)(xsr_writer *w, const void *arg);

/* Builds with fn(arg) and queues the bytes to the connection's own session
 * through the router (server answers: under the session's budget, in order
 * with the bounces).  Returns XSR_OK, XSR_EQUEUEFULL, XSR_ENOMEM, or the
 * writer's error. */
xsr_err xsr__c2s_answer(xsr__c2s *c, xsr__c2s_build_fn fn, const void *arg);

/* The decoded value of a routing span (xsr_decode_attr when `escaped`) into
 * buf[0..cap); ptr NULL when absent or longer than cap. */
xsr_span xsr__c2s_value(xsr_span raw, int escaped, char *buf, size_t cap);

/* The stanza `st` as received from session `s`, rewritten as the router
 * stamps routed stanzas (router.h FROM STAMPING): its own 'from' removed,
 * " from='<s's full JID>'" and its forwarding context added.  Returns a
 * malloc'd xsr__c2s_pres or NULL (out of memory, or no start tag to
 * rewrite). */
xsr__c2s_pres *xsr__c2s_stamp(const xsr_session *s, const xsr_stanza *st);

/* Frees a retired presence after a grace period. */
void xsr__c2s_pres_retire(xsr__c2s_pres *p);

/* Sends the unavailable presence of session `who` (a resource of c's own
 * account: c's session, or one that a new bind of c replaced) to the
 * account's other available resources and to its contacts' (local.c). */
void xsr__local_unavailable(xsr__c2s *c, xsr_session *who);

/* Directed presence (RFC 6121 4.6): `st`, a presence with 'to' and no type
 * or type 'unavailable' from c's bound session, was routed (`delivered`:
 * queued for at least one session).  Available presence that reached an
 * address outside the account's subscriptions (not its own bare JID, not a
 * roster contact listed from/both) is remembered; unavailable presence
 * forgets that exact address.  Out of memory or XSR__C2S_DIRECTED_MAX
 * reached: not remembered.  Owner only (local.c). */
void xsr__local_directed(xsr__c2s *c, const xsr_stanza *st, int delivered);

/* Sends <presence type='unavailable'/> from c's full JID to every address
 * remembered by xsr__local_directed (a full JID: that session; a bare JID:
 * its available resources; a full queue drops it, as for broadcast) and
 * forgets them all.  Owner only (local.c). */
void xsr__local_directed_gone(xsr__c2s *c);

/* Forgets the remembered addresses without telling them (the connection is
 * freed, or a newer bind replaced its session).  Owner only (local.c). */
void xsr__local_directed_free(xsr__c2s *c);

#endif /* XSR_SERVER_C2S_INTERNAL_H */
