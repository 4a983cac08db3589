/*
 * tests/interop/test_strophe.c: a real XMPP client library against the real
 * daemon.  Two libstrophe clients (Debian's libstrophe-dev) log in to
 * xsr-router with the SASL mechanism libstrophe picks from what the server
 * offers (SCRAM-SHA-256 or SCRAM-SHA-1: libstrophe prefers SCRAM), bind, send
 * presence; alice sends bob a message whose body must come back exact
 * (non-ASCII, markup characters, quotes), bob answers, alice pings the
 * server (XEP-0199), and both log out.  Then the daemon gets SIGTERM and
 * must exit 0.
 *
 *   test_strophe PATH/TO/xsr-router
 *
 * Every wait is bounded (30 s in all); the daemon listens on 127.0.0.1
 * port 0 and is stopped by its PID.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "daemon.h"

static const char body_sent[] = "h\xc3\xa9llo <bob> & 'quotes' \"too\" \xf0\x9f\x98\x80";
static const char reply_sent[] = "got it";

typedef struct peer {
  const char *name;
  xmpp_conn_t *conn;
  int connected, disconnected, failed;
  char *body; /* the last message body received */
  int pong;
} peer;

static peer alice = {"alice", NULL, 0, 0, 0, NULL, 0};
static peer bob = {"bob", NULL, 0, 0, 0, NULL, 0};

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *user) {
  (void)conn;
  peer *p = user;
  char *body = xmpp_message_get_body(st);
  if (body) {
    free(p->body);
    p->body = strdup(body);
    xmpp_free(xmpp_conn_get_context(conn), body);
  }
  return 1;
}

static int on_pong(xmpp_conn_t *conn, xmpp_stanza_t *st, void *user) {
  (void)conn;
  peer *p = user;
  const char *type = xmpp_stanza_get_type(st);
  p->pong = type && strcmp(type, "result") == 0 ? 1 : -1;
  return 0;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error, xmpp_stream_error_t *serr,
                    void *user) {
  (void)serr;
  peer *p = user;
  if (ev == XMPP_CONN_CONNECT) {
    p->connected = 1;
    xmpp_handler_add(conn, on_message, NULL, "message", NULL, p);
    xmpp_stanza_t *pres = xmpp_presence_new(xmpp_conn_get_context(conn));
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);
  } else if (ev == XMPP_CONN_DISCONNECT || ev == XMPP_CONN_FAIL) {
    if (!p->connected || error)
      p->failed = 1;
    p->disconnected = 1;
  }
}

static int connect_peer(xmpp_ctx_t *ctx, peer *p, const char *jid, const char *pw, unsigned port) {
  p->conn = xmpp_conn_new(ctx);
  if (!p->conn)
    return -1;
  /* No TLS yet (the server offers no STARTTLS); libstrophe must not insist. */
  xmpp_conn_set_flags(p->conn, XMPP_CONN_FLAG_DISABLE_TLS);
  xmpp_conn_set_jid(p->conn, jid);
  xmpp_conn_set_pass(p->conn, pw);
  return xmpp_connect_client(p->conn, "127.0.0.1", (unsigned short)port, on_conn, p) == XMPP_EOK
             ? 0
             : -1;
}

/* Runs the event loop until *flag is set (or a failure), at most until
 * `deadline`. */
static int run_until(xmpp_ctx_t *ctx, const int *flag, long long deadline, const char *what) {
  while (!*flag && td_now_ms() < deadline && !alice.failed && !bob.failed)
    xmpp_run_once(ctx, 50);
  if (!*flag)
    fprintf(stderr, "FAIL: %s (alice failed %d, bob failed %d)\n", what, alice.failed, bob.failed);
  return *flag ? 0 : -1;
}

static void send_message(xmpp_ctx_t *ctx, peer *from, const char *to, const char *body) {
  xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", to, "m1");
  xmpp_message_set_body(m, body);
  xmpp_send(from->conn, m);
  xmpp_stanza_release(m);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_strophe PATH/TO/xsr-router\n");
    return 2;
  }
  const char *bin = argv[1];
  signal(SIGPIPE, SIG_IGN);
  char dir[512], users[600];
  if (td_tmpdir(dir, sizeof dir))
    return 1;
  snprintf(users, sizeof users, "%s/users.json", dir);
  if (td_add_user(bin, users, "alice@localhost", "alice-secret") != 0 ||
      td_add_user(bin, users, "bob@localhost", "bob-secret") != 0) {
    fprintf(stderr, "FAIL: --add-user\n");
    td_rmdir(dir);
    return 1;
  }
  td_daemon d;
  const char *args[] = {"--users", users, "--listen", "127.0.0.1:0", "--threads", "2", NULL};
  if (td_start(&d, bin, dir, args)) {
    td_rmdir(dir);
    return 1;
  }
  long long deadline = td_now_ms() + 30000;
  int rc = 0;
  xmpp_initialize();
  xmpp_log_t *log = getenv("XSR_INTEROP_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL;
  xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, log);
  if (!ctx || connect_peer(ctx, &alice, "alice@localhost/strophe", "alice-secret", d.port) ||
      connect_peer(ctx, &bob, "bob@localhost/strophe", "bob-secret", d.port)) {
    fprintf(stderr, "FAIL: cannot start the clients\n");
    rc = 1;
  }
  if (!rc && (run_until(ctx, &alice.connected, deadline, "alice logs in") ||
              run_until(ctx, &bob.connected, deadline, "bob logs in")))
    rc = 1;
  if (!rc) {
    fprintf(stderr, "PASS both logged in\n");
    send_message(ctx, &alice, "bob@localhost/strophe", body_sent);
    while (!bob.body && td_now_ms() < deadline && !bob.failed)
      xmpp_run_once(ctx, 50);
    if (!bob.body || strcmp(bob.body, body_sent) != 0) {
      fprintf(stderr, "FAIL: bob got %s\n", bob.body ? bob.body : "nothing");
      rc = 1;
    } else {
      fprintf(stderr, "PASS alice -> bob, body exact\n");
    }
  }
  if (!rc) {
    send_message(ctx, &bob, "alice@localhost", reply_sent); /* bare JID */
    while (!alice.body && td_now_ms() < deadline && !alice.failed)
      xmpp_run_once(ctx, 50);
    if (!alice.body || strcmp(alice.body, reply_sent) != 0) {
      fprintf(stderr, "FAIL: alice got %s\n", alice.body ? alice.body : "nothing");
      rc = 1;
    } else {
      fprintf(stderr, "PASS bob -> alice (bare JID)\n");
    }
  }
  if (!rc) {
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", "ping1");
    xmpp_stanza_set_to(iq, "localhost");
    xmpp_stanza_t *ping = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(ping, "ping");
    xmpp_stanza_set_ns(ping, "urn:xmpp:ping");
    xmpp_stanza_add_child(iq, ping);
    xmpp_stanza_release(ping);
    xmpp_id_handler_add(alice.conn, on_pong, "ping1", &alice);
    xmpp_send(alice.conn, iq);
    xmpp_stanza_release(iq);
    if (run_until(ctx, &alice.pong, deadline, "ping answered") || alice.pong != 1) {
      fprintf(stderr, "FAIL: ping: %s\n", alice.pong < 0 ? "error reply" : "no reply");
      rc = 1;
    } else {
      fprintf(stderr, "PASS ping\n");
    }
  }
  if (alice.conn && alice.connected && !alice.disconnected)
    xmpp_disconnect(alice.conn);
  if (bob.conn && bob.connected && !bob.disconnected)
    xmpp_disconnect(bob.conn);
  long long end = td_now_ms() + 5000;
  while (ctx && (!alice.disconnected || !bob.disconnected) && td_now_ms() < end)
    xmpp_run_once(ctx, 50);
  if (!rc && (!alice.disconnected || !bob.disconnected)) {
    fprintf(stderr, "FAIL: log out\n");
    rc = 1;
  } else if (!rc) {
    fprintf(stderr, "PASS logged out\n");
  }
  if (alice.conn)
    xmpp_conn_release(alice.conn);
  if (bob.conn)
    xmpp_conn_release(bob.conn);
  if (ctx)
    xmpp_ctx_free(ctx);
  xmpp_shutdown();
  free(alice.body);
  free(bob.body);
  int st = td_stop(&d, SIGTERM, 20000);
  if (st != 0) {
    fprintf(stderr, "FAIL: xsr-router exit status %d\n", st);
    rc = 1;
  }
  if (rc)
    td_dump_log(&d);
  td_rmdir(dir);
  return rc;
}
