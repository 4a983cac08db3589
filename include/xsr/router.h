/* SPDX-License-Identifier: MIT */
/*
 * xsr/router.h: the router core: sessions, the routing table, the RFC 6120 /
 * RFC 6121 delivery rules, and bounded per-worker delivery queues.
 *
 * No I/O and no libuv: a network layer (the xsr-router daemon, or a test)
 * creates sessions, routes parsed stanzas (xsr_stanza views) and writes out
 * what it pops from its worker's queue.
 *
 *   xsr_router *r = xsr_router_new(&cfg, NULL);        // cfg.workers = N
 *   // on each thread that touches the router:
 *   xsr_router_thread_register();
 *   // worker w, a client has authenticated and bound a resource:
 *   xsr_session *s;
 *   xsr_session_new(xsr_router_worker(r, w), jid, jid_len, conn, &s);
 *   xsr_session_bind_rcu(s);
 *   xsr_session_set_presence_rcu(s, 1, 5);            // available, priority 5
 *   // for each stanza the client sends (inside the parser's on_stanza):
 *   xsr_route_result res;
 *   if (xsr_router_route_rcu(r, s, stanza, &res) == XSR_EQUEUEFULL)
 *     return XSR_RETRY;     // parser keeps it; stop reading; resume on on_room
 *   // in worker w's loop:
 *   xsr_msg *batch[64];
 *   size_t n = xsr_worker_pop_owner(worker, batch, 64);
 *   ... write xsr_msg_bytes(batch[i]) to xsr_session_user(xsr_msg_session(batch[i]))
 *   ... and xsr_msg_release(batch[i]) once written;
 *   xsr_router_quiescent();                           // once per loop iteration
 *
 * THREADS AND RCU.  The table is a liburcu lock-free hash table (cds_lfht)
 * read under RCU, using the QSBR flavour: read-side critical sections cost
 * nothing at all (no barrier, no counter), which is what lets a lookup run
 * at memory speed, and every thread of an event-loop server has natural
 * quiescent points (between loop iterations) where it can say so.  The
 * price is a contract on the caller, named by the `_rcu` suffix:
 *   - every thread that calls an `_rcu` function (or xsr_worker_pop_owner,
 *     xsr_session_close_owner) must first call xsr_router_thread_register();
 *   - it must call xsr_router_quiescent() regularly (once per event-loop
 *     iteration, or every few thousand stanzas): memory of unbound sessions
 *     and old table entries is reclaimed only after every registered thread
 *     has done so;
 *   - around blocking calls (epoll_wait, uv_run's poll phase) it must call
 *     xsr_router_thread_offline() / _online(), or other threads'
 *     reclamation stalls while it sleeps.  With libuv: a uv_prepare handle
 *     goes offline; but libuv runs I/O callbacks inside the poll phase,
 *     before the uv_check handles, so every callback that may touch the
 *     router comes back online first when the prepare handle left it
 *     offline (one flag test), and the uv_check handle reports the
 *     quiescent state (xsr-router: server/net.c);
 *   - pointers returned by `_rcu` functions (sessions found in the table)
 *     are valid only until the calling thread's next quiescent state or
 *     offline period.
 * Lookups never take a lock.  Binding, unbinding and presence changes for
 * one bare JID are serialised by a per-bare-JID spinlock held for a few
 * hundred nanoseconds; they may come from any registered thread while other
 * threads route, also for the same session (a worker kicking another's
 * session on a resource conflict while its owner changes its presence):
 * each takes effect whole, in some order.  Only a bind must not race with
 * the session's xsr_session_close_owner().
 *
 * DELIVERY SETS.  For every bare JID the table holds an immutable,
 * RCU-published snapshot of its resources sorted by (available first,
 * priority descending).  Every bare-JID rule below is a prefix of that
 * array: routing is one hash lookup, no allocation for the decision, and one
 * allocation per routed stanza for its bytes (see below).
 *
 * DELIVERY RULES (RFC 6120 section 10, RFC 6121 section 8.5).  "available"
 * means a bound session that has sent available presence; "top" the
 * available resources with the highest priority, when that priority is
 * non-negative (all tied ones receive the message, RFC 6121 8.5.2.1.1 lets
 * the server pick); "non-negative" the available ones with priority >= 0.
 * An account "exists" when cfg.account_exists says so (without the callback,
 * when at least one of its sessions is bound).  No offline storage: where
 * the RFC allows storing or bouncing, the router bounces.
 *
 *   no 'to', or 'to' a bare domain      -> SERVER (the server answers for
 *                                           the account / itself)
 *   'to' is not a valid JID              -> BOUNCE jid-malformed
 *   presence probe and subscription types
 *   (subscribe, subscribed, unsubscribe,
 *   unsubscribed), any address           -> SERVER (the account's roster
 *                                           decides: RFC 6121 sections 3
 *                                           and 4.3 have the server check it,
 *                                           answer for the contact, keep a
 *                                           request while no resource is
 *                                           available, and push changes)
 *   unknown account (8.5.1):
 *     message error / presence           -> DROP
 *     message other types                -> BOUNCE service-unavailable
 *     iq get/set                         -> BOUNCE service-unavailable
 *     iq result/error                    -> DROP
 *   bare JID, account exists (8.5.2):
 *     message normal/chat                -> top; none: BOUNCE service-unavailable
 *     message headline                   -> non-negative; none: DROP
 *     message groupchat                  -> BOUNCE service-unavailable
 *     message error                      -> DROP
 *     presence available/unavailable     -> all available; none: DROP
 *     presence error                     -> DROP
 *     iq get/set                         -> SERVER (the server answers
 *                                           iq addressed to an account)
 *     iq result/error                    -> DROP
 *   full JID, resource bound (8.5.3.1)   -> that session, whatever its
 *                                           presence or priority
 *   full JID, no such resource (8.5.3.2):
 *     message chat                       -> as for the bare JID
 *     message normal/groupchat           -> BOUNCE service-unavailable
 *     message headline/error             -> DROP
 *     presence                           -> DROP
 *     iq get/set                         -> BOUNCE service-unavailable
 *     iq result/error                    -> DROP
 *   message of an unknown type           -> as type normal (RFC 6121 5.2.2)
 *   presence or iq of an unknown type, or
 *   iq without a type                    -> BOUNCE bad-request
 * Error stanzas, and iq results, are never answered with errors (RFC 6120
 * section 8.2.3): where a rule would bounce them they are dropped.  A bounce is built with
 * xsr_writer per RFC 6120 section 8.3: the same element name and id, type
 * 'error', 'to' the sender's full JID, 'from' the original 'to' (or the
 * sender's domain when it is absent or not a valid JID), and
 * <error type='cancel|modify'><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>;
 * it is queued to the sender's own session.
 *
 * FROM STAMPING.  The router never trusts the 'from' a client sends: the
 * bytes delivered are the stanza as received with its 'from' attribute
 * removed and, right after the element name, " from='<sender's full JID>'",
 * then what the stanza took from its sender's stream (the view's forwarding
 * context, see stanza.h), so that it means the same on the recipient's
 * stream: " xmlns:P='URI'" for each prefix binding it inherited from the
 * sender's stream header (without them a recipient's parser would refuse
 * it as using an unbound prefix, or, for a prefix the recipient's stream
 * binds too, such as "stream", read it in another namespace), and
 * " xml:lang='L'" when the stanza has no xml:lang and the sender's stream
 * declared one (RFC 6120 section 4.7.4).  Values are escaped as xsr_writer
 * escapes them.  The bytes are produced once per routed stanza, into one
 * reference-counted buffer shared by every recipient of a fan-out (the
 * buffer and all its queue nodes are a single allocation).
 *
 * LIMITS.  The rewrite makes a stanza longer (by at most
 * XSR_ROUTER_FROM_ROOM bytes for the 'from', plus the declarations and
 * xml:lang) and can add attributes to its start tag (one for a 'from' the
 * client did not send, one per inherited binding, one for xml:lang).  A
 * recipient must be able to read whatever is delivered, so the router
 * never delivers a stanza longer than cfg.max_stanza bytes, or whose start
 * tag has more than cfg.max_attrs attributes or cfg.max_ns_decls
 * declarations (by default the parser's own defaults: what a recipient
 * using xsr's defaults accepts).  The start tag's counts come from the
 * view's tag_attrs and tag_decls (stanza.h), which a view built by hand
 * must therefore fill.  Such a stanza is bounced to the sender with the
 * stanza error policy-violation (type modify), or dropped when it is an
 * error or an iq result (see above), and nothing is delivered.  A server
 * keeps that from happening to any stanza its clients' streams accept by
 * reading them with tighter limits than it delivers with:
 * xsr_router_sender_limits() gives them.
 *
 * BUDGETS AND BACK-PRESSURE.  Each session may have at most cfg.session_budget
 * bytes queued and not yet released (xsr_msg_release()), counting the bytes
 * of its stanzas.  A stanza is queued to all its recipients or to none: when
 * one recipient's budget would be exceeded, xsr_router_route_rcu() queues
 * nothing and returns XSR_EQUEUEFULL with res->blocked naming that
 * recipient.  The caller then returns XSR_RETRY from on_stanza (the parser
 * stops before the stanza and keeps its bytes and stream context; see
 * parser.h), stops reading from the sender, and when cfg.on_room reports
 * that the blocked session has drained to half its budget, calls
 * xsr_parser_resume() on the sender's parser (on the sender's own thread:
 * on_room runs on whichever thread released the message), which reports
 * the same stanza to on_stanza again, to be routed again.  The on_room call
 * is never lost: a refusal racing with the releases that drain the queue is
 * seen by one of them.  Memory is therefore bounded by budget x
 * sessions, never by how fast senders send.  A session with nothing queued always accepts one
 * stanza, however large, so a budget smaller than the largest stanza cannot block a session
 * forever.  Bounces to a sender whose own budget is exhausted are dropped (res->recipients
 * is 0); a bounce longer than cfg.max_stanza (it repeats the stanza's id and 'to', escaped)
 * is not sent either, and res->action says DROP.
 * on_room is never called for a session after xsr_session_close_owner():
 * whoever closes a session resumes the senders waiting on it (routing their
 * stanza again no longer finds it).
 *
 * ORDERING.  Stanzas routed by one thread reach each recipient in the order
 * they were routed (each worker queue is FIFO per producer); nothing is
 * duplicated or lost unless the route call said so.
 */
#ifndef XSR_ROUTER_H
#define XSR_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "error.h"
#include "jid.h"
#include "parser.h"
#include "stanza.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsr_router xsr_router;
typedef struct xsr_worker xsr_worker;
typedef struct xsr_session xsr_session;
typedef struct xsr_msg xsr_msg;

#define XSR_DEFAULT_SESSION_BUDGET (1u << 20) /* bytes queued per session */
#define XSR_MAX_WORKERS            1024u
#define XSR_PRIORITY_MIN           (-128)
#define XSR_PRIORITY_MAX           127

typedef struct xsr_router_config {
  unsigned workers;         /* worker queues, 1..XSR_MAX_WORKERS [1] */
  size_t session_budget;    /* bytes queued per session [XSR_DEFAULT_SESSION_BUDGET] */
  unsigned initial_buckets; /* table size hint, a power of two [1024] */
  /* Called (from a producer thread) when worker `w`'s queue goes from empty
   * to non-empty: the one coalesced wake-up (uv_async_send).  May be NULL. */
  void (*wake)(void *user, xsr_worker *w);
  /* Called (from the thread releasing a message) when a session whose
   * budget refused a stanza has drained to half its budget.  May be NULL. */
  void (*on_room)(void *user, xsr_session *s);
  /* Whether the account `bare` (canonical "local@domain") exists.  Called
   * from routing threads, must be thread-safe and fast.  NULL: an account
   * exists while it has a bound session. */
  int (*account_exists)(void *user, xsr_span bare);
  void *user; /* passed to the callbacks */
  /* What recipients accept (see LIMITS), in the ranges xsr_parser_new()
   * accepts: max_stanza 1..XSR_MAX_STANZA_LIMIT, max_attrs 1..65535,
   * max_ns_decls 1.. (declarations count among the attributes, so
   * max_attrs bounds them too). */
  size_t max_stanza;     /* bytes of a delivered stanza [XSR_DEFAULT_MAX_STANZA] */
  unsigned max_attrs;    /* attributes of its start tag [XSR_DEFAULT_MAX_ATTRS] */
  unsigned max_ns_decls; /* declarations on its start tag [XSR_DEFAULT_MAX_NS_DECLS] */
} xsr_router_config;

/* The most bytes a 'from' stamp adds: " from='" + the longest full JID
 * (1023 + 1 + 1023 + 1 + 1023 bytes) with every byte of its resource
 * escaped as "&apos;" (localparts and domains cannot hold & < > ' ") + "'". */
#define XSR_ROUTER_FROM_ROOM (7u + 1023u + 1u + 1023u + 1u + 6u * 1023u + 1u)

/* Fills `cfg` with the defaults in brackets above. */
void xsr_router_config_init(xsr_router_config *cfg);

/* The limits to read a sender's stream with, so that every stanza it
 * accepts can be delivered under the router's limits `rcfg` (see LIMITS):
 * sets pcfg->max_stanza to rcfg->max_stanza less XSR_ROUTER_FROM_ROOM and
 * `header_room` bytes, max_attrs to rcfg->max_attrs less 2 and
 * `header_decls`, max_ns_decls to rcfg->max_ns_decls less `header_decls`
 * (never below 1).  `header_room` and `header_decls` are what the sender's
 * stream header may add to a stanza: the escaped length of its prefix
 * declarations and xml:lang (" xmlns:P='URI'" and " xml:lang='L'") and the
 * number of its prefix declarations.  A server that cannot know the header
 * before creating the parser passes the most it will accept in a header
 * and refuses headers that add more.  Other fields of pcfg are left as
 * they are.  Any thread. */
void xsr_router_sender_limits(const xsr_router_config *rcfg, size_t header_room,
                              unsigned header_decls, xsr_parser_config *pcfg);

/* Creates a router.  cfg NULL: defaults; alloc NULL: libc (the hash table's
 * own bucket arrays always come from libc).  Returns NULL when out of memory
 * or when cfg is out of range.  Any thread; need not be registered. */
xsr_router *xsr_router_new(const xsr_router_config *cfg, const xsr_allocator *alloc);

/* Frees the router.  Every session must have been closed and every popped
 * message released first; messages still queued are dropped.  Call from a
 * thread that is not registered or is offline, with no other thread using
 * the router.  NULL is a no-op. */
void xsr_router_free(xsr_router *r);

/* Worker `i` (0 <= i < cfg.workers); NULL when out of range. */
xsr_worker *xsr_router_worker(xsr_router *r, unsigned i);
unsigned xsr_worker_index(const xsr_worker *w);

/* RCU thread state (liburcu QSBR); see THREADS AND RCU.  A thread registers
 * once, before its first `_rcu` call, and unregisters before it exits.
 * Registration is per thread, not per router.  Registered threads start
 * online. */
void xsr_router_thread_register(void);
void xsr_router_thread_unregister(void);
void xsr_router_quiescent(void);
void xsr_router_thread_offline(void);
void xsr_router_thread_online(void);

/* ---- sessions ----------------------------------------------------------- */

/* Creates a session owned by worker `w` for the full JID jid[0..len)
 * (parsed and normalised here): an account's resource, local@domain/res.
 * `user` is the caller's pointer (the connection).  The session is not yet
 * in the table.  Returns XSR_OK, XSR_ENOMEM, XSR_EINVAL (no localpart or no
 * resource: stanzas to a domain or its resources go to the server, see
 * the rules) or a JID error.
 * Thread: w's owner. */
xsr_err xsr_session_new(xsr_worker *w, const char *jid, size_t len, void *user, xsr_session **out);

/* Enters the session in the table, connected but not available (no initial
 * presence yet): it receives stanzas addressed to its full JID only.
 * Returns XSR_OK, XSR_EEXIST when another session has the same full JID
 * (RFC 6120 7.7.2.2 conflict: the caller decides whom to disconnect),
 * XSR_EINVAL when already bound, XSR_ENOMEM. */
xsr_err xsr_session_bind_rcu(xsr_session *s);

/* Sets availability and priority (clamped to -128..127): the session's
 * initial/updated presence (available = 1) or unavailable presence
 * (available = 0, still connected).  Returns XSR_OK, XSR_EINVAL when not
 * bound, XSR_ENOMEM. */
xsr_err xsr_session_set_presence_rcu(xsr_session *s, int available, int priority);

/* Removes the session from the table; messages already queued for it are
 * still delivered.  It may be bound again.  No-op when not bound. */
void xsr_session_unbind_rcu(xsr_session *s);

/* Ends the session: unbinds it and frees it once no thread can still reach
 * it (after a grace period and after every message already queued for it
 * has been popped; those are dropped by xsr_worker_pop_owner()).  Every
 * message popped for it must have been released before this call.  Thread:
 * the owner worker's thread; `s` must not be used afterwards. */
void xsr_session_close_owner(xsr_session *s);

/* The session's canonical JID (spans valid for the session's lifetime), its
 * user pointer, worker, and bytes queued or popped but not yet released. */
xsr_jid xsr_session_jid(const xsr_session *s);
void *xsr_session_user(const xsr_session *s);
xsr_worker *xsr_session_worker(const xsr_session *s);
size_t xsr_session_queued(const xsr_session *s);

/* ---- routing ------------------------------------------------------------ */

typedef enum xsr_route_action {
  XSR_ROUTE_DELIVER = 1, /* queued for res.recipients sessions (>= 1) */
  XSR_ROUTE_BOUNCE,      /* an error stanza was queued to the sender */
  XSR_ROUTE_DROP,        /* silently ignored, as the rules say */
  XSR_ROUTE_SERVER       /* for the server itself to handle (see the rules) */
} xsr_route_action;

typedef struct xsr_route_result {
  xsr_route_action action;
  unsigned recipients;   /* sessions the stanza (or the bounce) was queued to */
  const char *condition; /* BOUNCE: the RFC 6120 stanza error condition */
  xsr_session *blocked;  /* XSR_EQUEUEFULL: the recipient that had no room
                            (valid until the next quiescent state) */
} xsr_route_result;

/* Routes one stanza sent by session `from` (which need not be bound).
 * Applies the rules above, stamps 'from' (and adds the stanza's forwarding
 * context), and queues the bytes; a stanza that would exceed the limits
 * after the rewrite is bounced with policy-violation (res->condition).  `st`
 * is only read during the call.  Its to, id and type spans are read as
 * values only, so a caller may point them elsewhere than raw (a server
 * addressing a message without 'to' to its sender's bare JID, RFC 6120
 * 10.3.1; a changed 'to' is not written into the delivered bytes); 'from',
 * when set, must be the attribute's value inside raw.  Returns:
 *   XSR_OK         res says what happened
 *   XSR_EQUEUEFULL nothing was queued; res->blocked had no room (see
 *                  BUDGETS AND BACK-PRESSURE)
 *   XSR_EINVAL     not an unprefixed message, presence or iq in a content
 *                  namespace (a stanza written <c:message xmlns:c='jabber:client'>
 *                  is refused: no client writes one),
 *                  or a view whose 'from' attribute cannot be located
 *   XSR_ENOMEM     nothing was queued
 * Thread: any registered, online thread. */
xsr_err xsr_router_route_rcu(xsr_router *r, xsr_session *from, const xsr_stanza *st,
                             xsr_route_result *res);

/* Queues an error stanza answering `st` (sent by `to`) with the RFC 6120
 * stanza error `condition` (e.g. "service-unavailable") of error type
 * `type` ("cancel", "modify", "auth", "wait"), as the router's own bounces
 * are built; for the server's answers to SERVER-routed stanzas.  Returns
 * XSR_OK, XSR_EINVAL (st is itself an error or an iq result), XSR_EQUEUEFULL,
 * XSR_ELIMITSTANZA (the error would be longer than cfg.max_stanza: never
 * sent), XSR_ENOMEM. */
xsr_err xsr_router_bounce_rcu(xsr_router *r, xsr_session *to, const xsr_stanza *st,
                              const char *condition, const char *type);

/* Queues `len` bytes (copied) to session `to`, under its budget: the
 * server's own stanzas (roster pushes, iq results).  Returns XSR_OK,
 * XSR_EQUEUEFULL, XSR_ENOMEM. */
xsr_err xsr_router_send_rcu(xsr_router *r, xsr_session *to, const void *data, size_t len);

/* The session bound at full JID `jid`, or NULL. */
xsr_session *xsr_router_find_rcu(xsr_router *r, const xsr_jid *jid);

/* Copies up to `max` sessions bound under the bare JID of `jid`, available
 * ones first by descending priority, into out; returns how many are bound
 * (which may exceed max). */
size_t xsr_router_resources_rcu(xsr_router *r, const xsr_jid *jid, xsr_session **out, size_t max);

/* ---- worker queues -------------------------------------------------------- */

/* Pops up to `max` messages for worker `w`'s sessions, in queue order, into
 * out; returns the count.  Messages for closed sessions are dropped here,
 * and sessions whose close has completed are freed here.  A return of `max`
 * means more may be waiting: call again (the wake callback fires only when
 * the queue goes from empty to non-empty).  Thread: w's owner only (the
 * queue is multi-producer, single-consumer). */
size_t xsr_worker_pop_owner(xsr_worker *w, xsr_msg **out, size_t max);

/* The message's recipient and its bytes (valid until released). */
xsr_session *xsr_msg_session(const xsr_msg *m);
xsr_span xsr_msg_bytes(const xsr_msg *m);

/* Returns the message's bytes to the recipient's budget and drops its
 * reference to the shared buffer.  Any thread, exactly once per popped
 * message, before the recipient is closed. */
void xsr_msg_release(xsr_msg *m);

/* ---- introspection (tests and benchmarks) -------------------------------- */

typedef struct xsr_router_stats {
  size_t bare_jids; /* entries in the table */
  size_t sessions;  /* bound sessions */
} xsr_router_stats;

/* A snapshot; counters are updated with relaxed atomics.  Any thread. */
void xsr_router_stats_get(xsr_router *r, xsr_router_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* XSR_ROUTER_H */
