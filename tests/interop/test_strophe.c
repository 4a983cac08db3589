/* SPDX-License-Identifier: MIT */
/*
 * tests/interop/test_strophe.c: a real XMPP client library against the real
 * daemon.  Two libstrophe clients (Debian's libstrophe-dev) log in to
 * xsr-router, bind, send presence; alice sends bob a message whose body must
 * come back exact (non-ASCII, markup characters, quotes), bob answers, alice
 * pings the server (XEP-0199), and both log out.  Two rounds:
 *
 *   scram  with the mechanism libstrophe picks from what the server offers
 *          (SCRAM-SHA-256 or SCRAM-SHA-1: libstrophe prefers SCRAM);
 *   plain  with PLAIN: libstrophe 0.12 has no switch to choose a mechanism
 *          (its flags are DISABLE_TLS, MANDATORY_TLS, LEGACY_SSL,
 *          TRUST_TLS, LEGACY_AUTH, which is XEP-0078 iq:auth, and
 *          DISABLE_SM), so the clients connect through a proxy thread that
 *          removes the SCRAM <mechanism/>s from the server's first
 *          <stream:features/>; libstrophe then falls back to PLAIN.
 *
 * Both rounds go through the proxy, which also records the mechanism of
 * each client's <auth/>, so the test checks which one was used.  Then the
 * daemon gets SIGTERM and must exit 0.
 *
 *   test_strophe PATH/TO/xsr-router
 *
 * Every wait is bounded (30 s per round); the daemon and the proxy listen
 * on 127.0.0.1 port 0; the daemon is stopped by its PID.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

/* ---- the proxy ------------------------------------------------------------------ */

#define PROXY_PAIRS 4

typedef struct pair {
  int cfd, sfd;      /* client side, server side; -1 when closed */
  int strip;         /* remove SCRAM from the first features */
  int features_done; /* the first features went through */
  char *held;        /* server bytes held until </stream:features> */
  size_t nheld;
  char mech[32];  /* the mechanism of the client's first <auth/> */
  char cbuf[256]; /* the client's bytes until the mechanism is seen */
  size_t ncbuf;
} pair;

typedef struct proxy {
  int lfd;
  unsigned port, daemon_port;
  int strip;
  pthread_t thread;
  atomic_int stop;
  pair pairs[PROXY_PAIRS];
  size_t npairs;
} proxy;

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void cut(char *buf, size_t *n, const char *what) {
  char *at;
  size_t wl = strlen(what);
  while ((at = memmem(buf, *n, what, wl)) != NULL) {
    memmove(at, at + wl, (size_t)(buf + *n - (at + wl)));
    *n -= wl;
  }
}

static void pair_close(pair *p) {
  if (p->cfd >= 0)
    close(p->cfd);
  if (p->sfd >= 0)
    close(p->sfd);
  p->cfd = p->sfd = -1;
}

/* Server to client: held and filtered until the first features end. */
static int from_server(pair *p, const char *data, size_t n) {
  if (p->features_done || !p->strip)
    return send_all(p->cfd, data, n);
  char *h = realloc(p->held, p->nheld + n);
  if (!h)
    return -1;
  p->held = h;
  memcpy(p->held + p->nheld, data, n);
  p->nheld += n;
  if (!memmem(p->held, p->nheld, "</stream:features>", 18))
    return p->nheld < 65536 ? 0 : -1;
  cut(p->held, &p->nheld, "<mechanism>SCRAM-SHA-256</mechanism>");
  cut(p->held, &p->nheld, "<mechanism>SCRAM-SHA-1</mechanism>");
  p->features_done = 1;
  return send_all(p->cfd, p->held, p->nheld);
}

/* Client to server: passed on; the first <auth/>'s mechanism noted. */
static int from_client(pair *p, const char *data, size_t n) {
  if (!p->mech[0]) {
    size_t room = sizeof p->cbuf - 1 - p->ncbuf, k = n < room ? n : room;
    memcpy(p->cbuf + p->ncbuf, data, k);
    p->ncbuf += k;
    p->cbuf[p->ncbuf] = '\0';
    char *m = strstr(p->cbuf, "mechanism=");
    if (m && m[10] && strchr(m + 11, m[10])) {
      char q = m[10];
      size_t i = 0;
      for (m += 11; *m != q && i < sizeof p->mech - 1; m++)
        p->mech[i++] = *m;
      p->mech[i] = '\0';
    } else if (p->ncbuf == sizeof p->cbuf - 1) {
      memmove(p->cbuf, p->cbuf + 128, p->ncbuf - 128); /* keep the tail */
      p->ncbuf -= 128;
    }
  }
  return send_all(p->sfd, data, n);
}

static void *proxy_main(void *arg) {
  proxy *px = arg;
  char buf[16384];
  while (!atomic_load(&px->stop)) {
    struct pollfd fds[1 + 2 * PROXY_PAIRS];
    nfds_t nf = 0;
    fds[nf++] = (struct pollfd){px->lfd, POLLIN, 0};
    for (size_t i = 0; i < px->npairs; i++) {
      fds[nf++] = (struct pollfd){px->pairs[i].cfd, POLLIN, 0};
      fds[nf++] = (struct pollfd){px->pairs[i].sfd, POLLIN, 0};
    }
    size_t polled = px->npairs; /* a pair accepted below waits for the next poll */
    if (poll(fds, nf, 20) <= 0)
      continue;
    if ((fds[0].revents & POLLIN) && px->npairs < PROXY_PAIRS) {
      int c = accept(px->lfd, NULL, NULL);
      if (c >= 0) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)px->daemon_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int sfd = socket(AF_INET, SOCK_STREAM, 0);
        if (sfd < 0 || connect(sfd, (struct sockaddr *)&a, sizeof a)) {
          close(c);
          if (sfd >= 0)
            close(sfd);
        } else {
          pair *p = &px->pairs[px->npairs++];
          memset(p, 0, sizeof *p);
          p->cfd = c;
          p->sfd = sfd;
          p->strip = px->strip;
        }
      }
    }
    for (size_t i = 0; i < polled; i++) {
      pair *p = &px->pairs[i];
      for (int side = 0; side < 2; side++) {
        struct pollfd *f = &fds[1 + 2 * i + (size_t)side];
        if (p->cfd < 0 || !(f->revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        ssize_t r = recv(f->fd, buf, sizeof buf, 0);
        if (r <= 0) {
          /* One side ended: pass the FIN on, and close once both did. */
          shutdown(side ? p->cfd : p->sfd, SHUT_WR);
          pair_close(p);
          break;
        }
        if ((side ? from_server(p, buf, (size_t)r) : from_client(p, buf, (size_t)r)) != 0) {
          pair_close(p);
          break;
        }
      }
    }
  }
  return NULL;
}

static int proxy_start(proxy *px, unsigned daemon_port, int strip) {
  memset(px, 0, sizeof *px);
  px->daemon_port = daemon_port;
  px->strip = strip;
  atomic_init(&px->stop, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  px->lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (px->lfd < 0 || bind(px->lfd, (struct sockaddr *)&a, sizeof a) || listen(px->lfd, 8) ||
      getsockname(px->lfd, (struct sockaddr *)&a, &len)) {
    if (px->lfd >= 0)
      close(px->lfd);
    return -1;
  }
  px->port = ntohs(a.sin_port);
  if (pthread_create(&px->thread, NULL, proxy_main, px)) {
    close(px->lfd);
    return -1;
  }
  return 0;
}

static void proxy_stop(proxy *px) {
  atomic_store(&px->stop, 1);
  pthread_join(px->thread, NULL);
  for (size_t i = 0; i < px->npairs; i++) {
    pair_close(&px->pairs[i]);
    free(px->pairs[i].held);
  }
  close(px->lfd);
}

/* ---- the clients ---------------------------------------------------------------- */

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

static void peer_reset(peer *p, const char *name) {
  free(p->body);
  memset(p, 0, sizeof *p);
  p->name = name;
}

/* One round through a proxy to the daemon on `port`: with the server's
 * offer as it is (libstrophe picks SCRAM), or with SCRAM removed from it
 * (PLAIN).  Returns 0 or 1. */
static int run_round(unsigned port, int plain) {
  const char *tag = plain ? "plain" : "scram";
  peer_reset(&alice, "alice");
  peer_reset(&bob, "bob");
  proxy px;
  if (proxy_start(&px, port, plain)) {
    fprintf(stderr, "FAIL %s: cannot start the proxy\n", tag);
    return 1;
  }
  long long deadline = td_now_ms() + 30000;
  int rc = 0;
  xmpp_log_t *log = getenv("XSR_INTEROP_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL;
  xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, log);
  if (!ctx || connect_peer(ctx, &alice, "alice@localhost/strophe", "alice-secret", px.port) ||
      connect_peer(ctx, &bob, "bob@localhost/strophe", "bob-secret", px.port)) {
    fprintf(stderr, "FAIL %s: cannot start the clients\n", tag);
    rc = 1;
  }
  if (!rc && (run_until(ctx, &alice.connected, deadline, "alice logs in") ||
              run_until(ctx, &bob.connected, deadline, "bob logs in")))
    rc = 1;
  if (!rc)
    fprintf(stderr, "PASS %s: both logged in\n", tag);
  if (!rc) {
    send_message(ctx, &alice, "bob@localhost/strophe", body_sent);
    while (!bob.body && td_now_ms() < deadline && !bob.failed)
      xmpp_run_once(ctx, 50);
    if (!bob.body || strcmp(bob.body, body_sent) != 0) {
      fprintf(stderr, "FAIL %s: bob got %s\n", tag, bob.body ? bob.body : "nothing");
      rc = 1;
    } else {
      fprintf(stderr, "PASS %s: alice -> bob, body exact\n", tag);
    }
  }
  if (!rc) {
    send_message(ctx, &bob, "alice@localhost", reply_sent); /* bare JID */
    while (!alice.body && td_now_ms() < deadline && !alice.failed)
      xmpp_run_once(ctx, 50);
    if (!alice.body || strcmp(alice.body, reply_sent) != 0) {
      fprintf(stderr, "FAIL %s: alice got %s\n", tag, alice.body ? alice.body : "nothing");
      rc = 1;
    } else {
      fprintf(stderr, "PASS %s: bob -> alice (bare JID)\n", tag);
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
      fprintf(stderr, "FAIL %s: ping: %s\n", tag, alice.pong < 0 ? "error reply" : "no reply");
      rc = 1;
    } else {
      fprintf(stderr, "PASS %s: ping\n", tag);
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
    fprintf(stderr, "FAIL %s: log out\n", tag);
    rc = 1;
  } else if (!rc) {
    fprintf(stderr, "PASS %s: logged out\n", tag);
  }
  if (alice.conn)
    xmpp_conn_release(alice.conn);
  if (bob.conn)
    xmpp_conn_release(bob.conn);
  if (ctx)
    xmpp_ctx_free(ctx);
  proxy_stop(&px);
  /* Which mechanisms were used: read after the proxy thread's join. */
  const char *m0 = px.pairs[0].mech, *m1 = px.npairs > 1 ? px.pairs[1].mech : "";
  int ok = plain ? strcmp(m0, "PLAIN") == 0 && strcmp(m1, "PLAIN") == 0
                 : strncmp(m0, "SCRAM-SHA-", 10) == 0 && strncmp(m1, "SCRAM-SHA-", 10) == 0;
  if (!ok) {
    fprintf(stderr, "FAIL %s: mechanisms used: '%s', '%s'\n", tag, m0, m1);
    rc = 1;
  } else if (!rc) {
    fprintf(stderr, "PASS %s: mechanisms %s, %s\n", tag, m0, m1);
  }
  return rc;
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
  xmpp_initialize();
  int rc = run_round(d.port, 0);
  if (!rc)
    rc = run_round(d.port, 1);
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
