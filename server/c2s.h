/* SPDX-License-Identifier: MIT */
/*
 * server/c2s.h: one client-to-server connection's protocol (RFC 6120 c2s
 * negotiation, then routing), as a state machine with no sockets, timers or
 * threads of its own.  Private to xsr-router; never installed.
 *
 * Layers (DESIGN.md "Server"):
 *
 *   net (server/net.c, libuv)           c2s (server/c2s.c)          router core
 *   socket bytes --read--> xsr__c2s_input() --parser events--> negotiation, then
 *                                                            xsr_router_route_rcu()
 *   socket <--write-- io->write()  <----  bytes the c2s produces (header, features,
 *                                          SASL, bind result, server answers)
 *   socket <--write-- xsr_msg bytes popped from the worker queue (routed stanzas):
 *                     written by net, not by c2s (they are already stamped)
 *
 * The c2s never touches a socket: it consumes bytes and emits bytes and
 * requests through the io callbacks, so it is unit-tested and fuzzed
 * without a network, and a TLS layer can later sit between net and c2s
 * (decrypting into xsr__c2s_input, encrypting what io->write gets).
 *
 * Threads: a connection belongs to one worker; every function here runs on
 * that worker's thread, which is registered with the router and online
 * (xsr_router_thread_register()).  The exceptions are named _any.
 *
 * Read path: net reads into a per-worker buffer and passes it to
 * xsr__c2s_input(), which feeds the connection's parser (xsr_parser_feed):
 * complete stanzas are parsed in place, and only an unfinished tail is
 * copied into the connection, so an idle connection holds no read buffer.
 */
#ifndef XSR_SERVER_C2S_H
#define XSR_SERVER_C2S_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sasl.h"
#include "users.h"
#include "xsr/router.h"

/* ---- the server: read-only while workers run ------------------------------ */

typedef enum xsr__conflict_policy {
  XSR__CONFLICT_NEW_WINS = 0, /* the old session gets <conflict/> (default) */
  XSR__CONFLICT_OLD_WINS      /* the new bind fails with <conflict/> */
} xsr__conflict_policy;

typedef struct xsr__server {
  /* The default host: the domain a stream header without 'to' is for
   * (canonical, NUL-terminated); one of `domains`. */
  const char *domain;
  size_t domain_len;
  /* Every domain served (virtual hosts), canonical, NUL-terminated, unique
   * and sorted in strcmp order (they are binary-searched); at most
   * XSR__SERVER_HOSTS_MAX.  ndomains 0 (a zero-initialised server): `domain`
   * alone.  A connection's host is the one its stream header's 'to' names. */
  const char *const *domains;
  size_t ndomains;
  xsr_router *router;
  const xsr__users *users;      /* accounts and rosters */
  xsr__sasl *sasl;              /* mechanisms offered per its config */
  xsr_parser_config parser_cfg; /* for clients' streams: xsr_router_sender_limits() applied */
  /* One scratch pool per worker (parser.h SCRATCH POOLS): a connection's
   * parser uses its worker's, so an idle connection holds no index or
   * buffer.  NULL: each parser keeps its own. */
  xsr_parser_pool *const *parser_pools;
  unsigned max_auth_failures;     /* stream closed after this many [3] */
  unsigned auth_failure_delay_ms; /* before each <failure/> is sent [1000] */
  xsr__conflict_policy conflict;
  const char *version; /* XEP-0092 software version: "0.2.0" */
  /* Stream header limits: what a client header may add to every stanza it
   * sends (router.h xsr_router_sender_limits): prefix declarations besides
   * the default namespace and the stream prefix, and their bytes. */
  unsigned header_max_decls;
  size_t header_max_room;
  /* The accounts in force when they can change while workers run
   * (xsr-router's SIGHUP reload, xsr__server_users_swap): NULL (zero, as a
   * zero-initialised server has it) means `users` above, which then never
   * changes.  When set, it replaces `users` everywhere: new connections and
   * every <auth> take a reference to the table then in force and keep it
   * until xsr__c2s_free (their account and roster come from it), and
   * account_exists reads it under RCU.  Set it before the workers run;
   * afterwards only through xsr__server_users_swap. */
  _Atomic(const xsr__users *) users_live;
} xsr__server;

/* The most domains one server serves (a connection keeps its host's index
 * in 16 bits). */
#define XSR__SERVER_HOSTS_MAX 65535u

/* The number of domains srv serves (ndomains, or 1 for `domain` alone), the
 * i-th (i below that), and the index of the canonical domain d[0..len) among
 * them or -1 when it is not served.  Any thread. */
size_t xsr__server_host_count(const xsr__server *srv);
xsr_span xsr__server_host_name(const xsr__server *srv, size_t i);
long xsr__server_host(const xsr__server *srv, const char *d, size_t len);

/* Fills srv->parser_cfg's max_stanza, max_attrs and max_ns_decls for the
 * router's limits `rcfg` (xsr_router_sender_limits()), from the header
 * limits above, and its accept to XSR_ACCEPT_CLIENT; other fields stay.
 * header_max_decls counts the prefix declarations of a client's header
 * besides the stream prefix's; header_max_room counts the bytes of all of
 * them, the stream prefix's included, and of xml:lang, as the router adds
 * them to a stanza (" xmlns:P='URI'", " xml:lang='L'", escaped).  A header
 * over either gets policy-violation.  Call once, before the workers run. */
void xsr__server_limits(xsr__server *srv, const xsr_router_config *rcfg);

/* Publishes the table `u` (the caller's reference passes to the server) as
 * srv->users_live and drops the server's reference to the one it replaces
 * after an RCU grace period (synchronize_rcu: workers read the live table
 * without a reference until their next quiescent state), so the old table
 * lives on while a connection holds it.  Blocks for the grace period.  One
 * thread at a time, never an online RCU reader: xsr-router's main thread.
 * srv->users_live must be set already. */
void xsr__server_users_swap(xsr__server *srv, const xsr__users *u);

/* For xsr_router_config.account_exists, with user = the xsr__server
 * (whose router field must be set before routing starts): the bare JID is
 * of a domain served and is in that domain's accounts of the users table in
 * force (xsr__users_host), or has a bound session
 * (an ANONYMOUS account, or one that a reload removed while it was
 * connected).  Any registered thread, online. */
int xsr__server_account_exists(void *srv, xsr_span bare);

/* ---- what the network layer provides ------------------------------------- */

typedef struct xsr__c2s xsr__c2s;

typedef struct xsr__c2s_io {
  /* Appends bytes (copied) to the connection's output, in order with the
   * routed stanzas net writes for it.  Returns 0, or -1 when the output is
   * over its bound (the c2s then fails the stream with policy-violation). */
  int (*write)(void *io, const void *data, size_t len);
  /* The stream is over: close the socket once the pending output has been
   * written (or after a short grace period).  No c2s call follows except
   * xsr__c2s_free (and xsr__c2s_popped, which then answers DROP).  Net
   * must also stop the connection's timer: fire is never called after
   * io->close, xsr__c2s_peer_gone or xsr__c2s_free. */
  void (*close)(void *io);
  /* Stop (paused = 1) or restart (0) reading from the socket: back-pressure
   * (a recipient's budget was full) and the pause while a SASL step runs
   * off the loop or a failure delay runs. */
  void (*read_pause)(void *io, int paused);
  /* Runs work(arg) on a thread pool (uv_queue_work), then done(arg) on the
   * connection's own thread (if the connection is closed meanwhile, done
   * still runs, and must be what frees). */
  void (*queue_work)(void *io, void (*work)(void *arg), void (*done)(void *arg), void *arg);
  /* Calls fire(c2s) after `ms` milliseconds on the connection's thread,
   * once; a second call replaces the first; ms 0 cancels. */
  void (*timer)(void *io, unsigned ms, void (*fire)(xsr__c2s *c));
} xsr__c2s_io;

/* ---- the connection -------------------------------------------------------- */

/* Creates the protocol state of a new connection on worker `w` (an index
 * into the router's workers).  NULL when out of memory. */
xsr__c2s *xsr__c2s_new(const xsr__server *srv, unsigned w, const xsr__c2s_io *io, void *io_user);

/* Bytes read from the socket.  Returns 0 while the connection lives, -1
 * once the stream is over (io->close was called). */
int xsr__c2s_input(xsr__c2s *c, const char *data, size_t len);

/* The peer closed its side or the socket failed: unbinds the session (the
 * others see it unavailable, RFC 6121 4.5.3.2 / 4.6) and sends nothing. */
void xsr__c2s_peer_gone(xsr__c2s *c);

/* Another sender's blocked stanza may now fit (the router's on_room, or a
 * blocked recipient closed): retry the refused stanza and, if it goes,
 * read again.  The blocking session may be the connection's own: the
 * server's answers (local.c) go through its own queue, under its budget.
 * Net must call it for every blocked connection whenever a session closes
 * (xsr__c2s_free of a bound connection), since the router never reports
 * on_room for a closed session.  No-op when not blocked or closed. */
void xsr__c2s_retry(xsr__c2s *c);

/* Whether the connection waits for room in another session's budget. */
int xsr__c2s_blocked(const xsr__c2s *c);

/* Frees everything, closing the router session (xsr_session_close_owner):
 * every routed message popped for it must have been released.  After
 * io->close, xsr__c2s_peer_gone or XSR__C2S_LAST.  Calls no io function.
 * While a queue_work is pending the c2s is freed by its done callback
 * instead (done always runs, and then touches nothing of io).  The memory
 * itself is reclaimed after an RCU grace period (call_rcu): other workers
 * may still read it through the session. */
void xsr__c2s_free(xsr__c2s *c);

/* Net calls this for every message it pops for c's session, in order,
 * before writing it (the worker thread).  Returns
 *   XSR__C2S_WRITE  write the bytes as usual;
 *   XSR__C2S_DROP   release the message unwritten: the stream is over;
 *   XSR__C2S_LAST   write the bytes, then end the stream as after
 *                   io->close (the c2s does not call io->close itself):
 *                   they are the <conflict/> stream error and closing tag
 *                   of a session that a new bind of the same full JID
 *                   replaced (RFC 6120 7.7.2.2), queued by that bind's
 *                   worker, which has already unbound the session and sent
 *                   its unavailable presence; or our own closing tag,
 *                   queued behind the session's answers when the client
 *                   closed its stream (RFC 6120 4.4: what it asked for
 *                   before its </stream:stream> is answered first).
 *                   Messages popped after it: DROP.
 * No other c2s call follows LAST except xsr__c2s_free. */
enum { XSR__C2S_WRITE = 0, XSR__C2S_DROP = 1, XSR__C2S_LAST = 2 };
int xsr__c2s_popped(xsr__c2s *c, const xsr_msg *m);

/* The io_user given to xsr__c2s_new(): for net, to find the connection of
 * a popped message (xsr_session_user() is the xsr__c2s).  Owner thread. */
void *xsr__c2s_io_user(const xsr__c2s *c);

/* The router session once bound, else NULL (its xsr_session_user is the
 * xsr__c2s). */
xsr_session *xsr__c2s_session(const xsr__c2s *c);

/* Ends the stream with a stream error (RFC 6120 4.9): writes
 * <stream:error><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>
 * </stream:error></stream:stream> (with the stream header first if none
 * was sent), sends the session's unavailable presence, unbinds it and
 * calls io->close.  For net: system-shutdown, connection-timeout,
 * policy-violation (slow consumer).  No-op once the stream is over.
 *
 * What the c2s sends itself: a parser error gives xsr_err_condition() of
 * it with a <text/> naming the message and byte offset; a 'to' that is not
 * a domain served host-unknown (the header's 'to' picks the connection's
 * host: SASL authenticates against that domain's accounts only, bind gives
 * local@host/resource, the server answers from it; a header without 'to'
 * picks srv->domain; the header of the restarted stream must name the host
 * authenticated, or none); a header without version='1.x'
 * unsupported-version; a header adding more than srv->header_max_decls /
 * header_max_room policy-violation; anything but SASL before
 * authentication and anything but the bind (or legacy session) iq before
 * binding not-authorized (RFC 6120 4.9.3.12, 7.1); an unknown SASL element
 * and, once bound, a top-level element other than message/presence/iq
 * unsupported-stanza-type; max_auth_failures failures policy-violation
 * after the last <failure/> (RFC 6120 6.4.5); io->write's -1
 * policy-violation; a session replaced by a new bind conflict. */
void xsr__c2s_stream_error(xsr__c2s *c, const char *condition);

/* ---- what the server answers itself (server/local.c) ------------------- */

/* A stanza the router returned as XSR_ROUTE_SERVER (no 'to', the domain,
 * the account's bare JID for an iq, presence probes and subscriptions),
 * sent by the bound session of `c` (presence without 'to' goes to
 * xsr__local_presence instead).  "A domain served" is any of srv's
 * (virtual hosts: each answers for itself, from its own address; a bare JID
 * of any of them is local); "another domain" one not served (no
 * server-to-server yet):
 *   iq get/set  ping (XEP-0199: the server, the account, any local bare
 *               JID); disco#info (XEP-0030: a domain served answers identity
 *               server/im with features disco#info, disco#items,
 *               jabber:iq:version, urn:xmpp:ping; a bare JID or no 'to'
 *               answers account/registered; a node: item-not-found);
 *               disco#items (empty); version (XEP-0092, a domain only:
 *               name xsr-router, srv->version, no os); roster get
 *               (RFC 6121 2.1.3, no 'to' or the own bare JID; no
 *               versioning), roster set not-allowed (read-only: rosters
 *               change only in the users file), another's roster
 *               forbidden; session (legacy) result; another domain
 *               remote-server-not-found; anything else
 *               service-unavailable (RFC 6120 8.4); no type or an unknown
 *               one bad-request; result and error dropped.
 *   message     no 'to': routed to the sender's own bare JID (RFC 6120
 *               10.3.1); to a domain: service-unavailable (another domain:
 *               remote-server-not-found), headline and error dropped.
 *   presence    probe and subscribe as local.c's opening comment says;
 *               subscribed/unsubscribe/unsubscribed and presence to the
 *               domain dropped; an unknown type bad-request.
 * Answers go through c's own session queue (in order with the router's
 * bounces, under its budget).  Returns XSR_OK, XSR_ENOMEM, or
 * XSR_EQUEUEFULL when the answer found the sender's own queue full (the
 * stanza is refused and retried like a routed one; nothing was sent). */
xsr_err xsr__local_stanza(xsr__c2s *c, const xsr_stanza *st);

/* Presence broadcast (RFC 6121 4.2 to 4.6): `st` is presence without 'to'
 * (initial or update, or unavailable) from c's bound session, after the
 * router's state was updated (xsr_session_set_presence_rcu).  Sends it,
 * stamped as the router stamps (from = full JID, forwarding context; no
 * 'to'), to the account's available resources, the sender included
 * (RFC 6121 4.2.2), and to the available resources of its roster contacts
 * whose subscription lets them see it (from/both); available presence is
 * published as c's last presence first.  On initial presence it answers
 * the probes itself: the last presence of the account's other available
 * resources and of the contacts listed to/both whose own roster lists the
 * account from/both.  A recipient whose queue is full misses that
 * presence (it is state: the next one replaces it); the sender is never
 * blocked.  Returns XSR_OK or XSR_ENOMEM. */
xsr_err xsr__local_presence(xsr__c2s *c, const xsr_stanza *st, int initial);

/* Sends c's unavailable presence to those who saw it available, and
 * <presence type='unavailable'/> from its full JID to each address it sent
 * directed available presence to and no directed unavailable since, outside
 * the account's subscriptions (RFC 6121 4.6.3; at most
 * XSR__C2S_DIRECTED_MAX remembered, see c2s_internal.h and local.c); for a
 * session that ends without sending unavailable presence.  Not for a
 * session a new bind replaced (that bind told its contacts). */
void xsr__local_gone(xsr__c2s *c);

/* The last available presence c's session broadcast, stamped (from = its
 * full JID, no 'to'), or an empty span: for answering probes from other
 * threads.  The bytes stay valid until the calling thread's next quiescent
 * state (they are replaced under RCU).  Any registered thread. */
xsr_span xsr__c2s_last_presence_any(const xsr__c2s *c);

/* The connection's account and its roster (NULL for ANONYMOUS): from the
 * table it authenticated against, which the connection keeps alive until
 * xsr__c2s_free even when a reload replaces it. */
const xsr__account *xsr__c2s_account(const xsr__c2s *c);

/* Writes bytes for the connection itself through io->write (before the
 * session exists: negotiation); on io->write's -1 the stream fails with
 * policy-violation and -1 is returned.  local.c answers through the
 * session's queue instead. */
int xsr__c2s_send(xsr__c2s *c, const void *data, size_t len);

#endif /* XSR_SERVER_C2S_H */
