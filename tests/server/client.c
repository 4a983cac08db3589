/* SPDX-License-Identifier: MIT */
/*
 * tests/server/client.c: see client.h.
 */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"

const char xc_header[] = "<?xml version='1.0'?><stream:stream to='localhost' "
                         "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                         "version='1.0'>";

static int on_open(void *user, const xsr_stream_header *h) {
  (void)h;
  xc *c = user;
  c->headers++;
  return 0;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  xc *c = user;
  if (c->qlen == c->qcap) {
    size_t ncap = c->qcap ? c->qcap * 2 : 16;
    xc_stanza *nq = malloc(ncap * sizeof *nq);
    if (!nq)
      abort();
    for (size_t i = 0; i < c->qlen; i++)
      nq[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = nq;
    c->qcap = ncap;
    c->qhead = 0;
  }
  xc_stanza *s = &c->q[(c->qhead + c->qlen) % c->qcap];
  s->name = strndup(st->name.ptr, st->name.len);
  s->raw = strndup(st->raw.ptr, st->raw.len);
  s->len = st->raw.len;
  c->qlen++;
  if (st->name.len == 7 && memcmp(st->name.ptr, "success", 7) == 0) {
    c->restart = 1; /* RFC 6120 6.4.6: a new stream follows */
    return XSR_PAUSE;
  }
  return 0;
}

static int on_close(void *user, uint64_t offset) {
  (void)offset;
  xc *c = user;
  c->closed = 1;
  return 0;
}

static const xsr_parser_callbacks xc_callbacks = {on_open, on_stanza, on_close};

int xc_connect(xc *c, unsigned port, int v6, int rcvbuf) {
  memset(c, 0, sizeof *c);
  c->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int rc;
  if (v6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((unsigned short)port);
    a.sin6_addr = in6addr_loopback;
    rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
  }
  if (rc && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.accept = XSR_ACCEPT_CLIENT;
  c->parser = xsr_parser_new(&pc, &xc_callbacks, c, NULL);
  return c->parser ? 0 : -1;
}

void xc_stanza_free(xc_stanza *s) {
  if (!s)
    return;
  free(s->name);
  free(s->raw);
  free(s);
}

void xc_free(xc *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  xsr_parser_free(c->parser);
  c->parser = NULL;
  for (size_t i = 0; i < c->qlen; i++) {
    xc_stanza *s = &c->q[(c->qhead + i) % c->qcap];
    free(s->name);
    free(s->raw);
  }
  free(c->q);
  free(c->out);
  c->q = NULL;
  c->out = NULL;
  c->qlen = c->qcap = c->outlen = c->outcap = 0;
}

void xc_sendn(xc *c, const char *s, size_t n) {
  if (c->outlen + n > c->outcap) {
    size_t ncap = c->outcap ? c->outcap : 1024;
    while (ncap < c->outlen + n)
      ncap *= 2;
    char *no = realloc(c->out, ncap);
    if (!no)
      abort();
    c->out = no;
    c->outcap = ncap;
  }
  memcpy(c->out + c->outlen, s, n);
  c->outlen += n;
  /* Try now, so that a test waiting on another client does not stall
   * this one's output; the rest goes out in xc_pump. */
  if (c->fd >= 0 && !c->eof) {
    ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      memmove(c->out, c->out + w, c->outlen - (size_t)w);
      c->outlen -= (size_t)w;
    }
  }
}

void xc_send(xc *c, const char *s) { xc_sendn(c, s, strlen(s)); }

static void feed(xc *c, const char *data, size_t n) {
  if (c->perr)
    return;
  xsr_err rc = xsr_parser_feed(c->parser, data, n);
  while (rc == XSR_PAUSED) {
    if (c->restart) {
      c->restart = 0;
      rc = xsr_parser_restart(c->parser);
      if (rc != XSR_OK)
        break;
    }
    rc = xsr_parser_resume(c->parser);
  }
  if (rc != XSR_OK) {
    uint64_t off = 0;
    xsr_parser_error(c->parser, &off);
    fprintf(stderr, "client %u: the server's bytes do not parse: %s at %llu\n", c->idx,
            xsr_err_message(rc), (unsigned long long)off);
    c->perr = rc;
  }
  if (c->closed && !c->shut) {
    /* The server closed its stream: close ours, as a client does. */
    c->shut = 1;
    shutdown(c->fd, SHUT_WR);
  }
}

static void do_io(xc *c, short revents) {
  if (revents & POLLOUT && c->outlen) {
    ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
    if (w > 0) {
      memmove(c->out, c->out + w, c->outlen - (size_t)w);
      c->outlen -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      c->eof = 1;
    }
  }
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    char buf[65536];
    for (int i = 0; i < 16; i++) {
      ssize_t r = recv(c->fd, buf, sizeof buf, 0);
      if (r > 0) {
        feed(c, buf, (size_t)r);
        continue;
      }
      if (r == 0 || (errno != EAGAIN && errno != EINTR))
        c->eof = 1;
      break;
    }
  }
}

int xc_pump(xc **cs, size_t n, int timeout_ms) {
  struct pollfd *pf = calloc(n ? n : 1, sizeof *pf);
  if (!pf)
    return -1;
  for (size_t i = 0; i < n; i++) {
    pf[i].fd = cs[i]->eof || cs[i]->fd < 0 ? -1 : cs[i]->fd;
    pf[i].events = (short)(POLLIN | (cs[i]->outlen ? POLLOUT : 0));
  }
  int r = poll(pf, n, timeout_ms);
  if (r < 0 && errno != EINTR) {
    free(pf);
    return -1;
  }
  for (size_t i = 0; r > 0 && i < n; i++)
    if (pf[i].revents)
      do_io(cs[i], pf[i].revents);
  free(pf);
  return 0;
}

int xc_flush(xc *c, int timeout_ms) {
  long long end = td_now_ms() + timeout_ms;
  while (c->outlen && !c->eof && td_now_ms() < end)
    xc_pump(&c, 1, 10);
  return c->outlen ? -1 : 0;
}

xc_stanza *xc_next(xc *c, int timeout_ms) {
  long long end = td_now_ms() + timeout_ms;
  while (c->qlen == 0 && !c->eof && !c->perr) {
    long long left = end - td_now_ms();
    if (left <= 0)
      break;
    xc_pump(&c, 1, left > 50 ? 50 : (int)left);
  }
  if (c->qlen == 0)
    return NULL;
  xc_stanza *s = malloc(sizeof *s);
  if (!s)
    abort();
  *s = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qlen--;
  return s;
}

xc_stanza *xc_expect(xc *c, const char *name, int timeout_ms) {
  xc_stanza *s = xc_next(c, timeout_ms);
  if (!s) {
    fprintf(stderr, "client %u: expected <%s>, got nothing (eof %d, parse error %d)\n", c->idx,
            name, c->eof, (int)c->perr);
    return NULL;
  }
  if (strcmp(s->name, name) != 0) {
    fprintf(stderr, "client %u: expected <%s>, got %s\n", c->idx, name, s->raw);
    xc_stanza_free(s);
    return NULL;
  }
  return s;
}

int xc_wait_eof(xc *c, int timeout_ms) {
  long long end = td_now_ms() + timeout_ms;
  while (!c->eof && td_now_ms() < end)
    xc_pump(&c, 1, 50);
  return c->eof ? 0 : -1;
}

static void b64(const unsigned char *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < n)
      v |= in[i + 2];
    out[o++] = t[(v >> 18) & 63];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
}

void xc_plain_auth(char *out, size_t cap, const char *user, const char *password) {
  unsigned char msg[512];
  size_t ul = strlen(user), pl = strlen(password);
  msg[0] = 0;
  memcpy(msg + 1, user, ul);
  msg[1 + ul] = 0;
  memcpy(msg + 2 + ul, password, pl);
  char enc[800];
  b64(msg, 2 + ul + pl, enc);
  snprintf(out, cap, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
           enc);
}

int xc_login(xc *c, const char *user, const char *password, const char *resource, int timeout_ms) {
  char auth[1024], bind[512];
  xc_stanza *s;
  xc_send(c, xc_header);
  if (!(s = xc_expect(c, "features", timeout_ms)))
    return -1;
  xc_stanza_free(s);
  xc_plain_auth(auth, sizeof auth, user, password);
  xc_send(c, auth);
  if (!(s = xc_expect(c, "success", timeout_ms)))
    return -1;
  xc_stanza_free(s);
  xc_send(c, xc_header);
  if (!(s = xc_expect(c, "features", timeout_ms)))
    return -1;
  int has_bind = strstr(s->raw, "urn:ietf:params:xml:ns:xmpp-bind") != NULL;
  xc_stanza_free(s);
  if (!has_bind) {
    fprintf(stderr, "client %u: no <bind/> in the features after SASL\n", c->idx);
    return -1;
  }
  if (resource)
    snprintf(bind, sizeof bind,
             "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<resource>%s</resource></bind></iq>",
             resource);
  else
    snprintf(bind, sizeof bind,
             "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  xc_send(c, bind);
  if (!(s = xc_expect(c, "iq", timeout_ms)))
    return -1;
  int ok =
      strstr(s->raw, "type='result'") && xc_element_text(s->raw, "jid", c->jid, sizeof c->jid) == 0;
  if (!ok)
    fprintf(stderr, "client %u: bind failed: %s\n", c->idx, s->raw);
  xc_stanza_free(s);
  return ok ? 0 : -1;
}

int xc_element_text(const char *raw, const char *name, char *out, size_t cap) {
  char open[128], close[128];
  snprintf(open, sizeof open, "<%s>", name);
  snprintf(close, sizeof close, "</%s>", name);
  const char *a = strstr(raw, open);
  if (!a)
    return -1;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b || (size_t)(b - a) >= cap)
    return -1;
  memcpy(out, a, (size_t)(b - a));
  out[b - a] = '\0';
  return 0;
}

int xc_attr(const char *raw, const char *attr, char *out, size_t cap) {
  const char *end = strchr(raw, '>');
  size_t al = strlen(attr);
  for (const char *p = raw; p && p < end; p = strchr(p + 1, ' ')) {
    if (strncmp(p + 1, attr, al) == 0 && p[1 + al] == '=') {
      char q = p[2 + al];
      const char *v = p + 3 + al;
      const char *e = strchr(v, q);
      if (!e || (size_t)(e - v) >= cap)
        return -1;
      memcpy(out, v, (size_t)(e - v));
      out[e - v] = '\0';
      return 0;
    }
  }
  return -1;
}
