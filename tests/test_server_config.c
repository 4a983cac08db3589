/* SPDX-License-Identifier: MIT */
/*
 * tests/test_server_config.c: xsr-router's configuration (server/config.h):
 * the JSON file's keys, values and errors, the command line and its
 * precedence over the file, HOST:PORT parsing.
 */
#define _GNU_SOURCE /* mkstemp */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static xsr__config cfg;
static char err[512];

static void setup(void) {
  xsr__config_init(&cfg);
  err[0] = '\0';
}
static void teardown(void) { xsr__config_free(&cfg); }

TestSuite(server_config, .init = setup, .fini = teardown);

static int parse(const char *json) {
  return xsr__config_parse(&cfg, "t.json", json, strlen(json), err, sizeof err);
}

/* Runs xsr__config_args over a NULL-terminated list (argv[0] added). */
static xsr__config_action args(const char **add_user, ...) {
  const char *argv[32];
  int argc = 0;
  argv[argc++] = "xsr-router";
  va_list ap;
  va_start(ap, add_user);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
    argv[argc++] = a;
  va_end(ap);
  argv[argc] = NULL;
  const char *dummy;
  return xsr__config_args(&cfg, argc, (char *const *)argv, add_user ? add_user : &dummy, err,
                          sizeof err);
}

Test(server_config, defaults) {
  cr_assert_null(cfg.domain);
  cr_assert_eq(cfg.nlisten, 0);
  cr_assert_null(cfg.users);
  cr_assert_eq(cfg.threads, 0);
  cr_assert_eq(cfg.session_budget, XSR_DEFAULT_SESSION_BUDGET);
  cr_assert_eq(cfg.max_stanza, XSR_DEFAULT_MAX_STANZA);
  cr_assert_eq(cfg.plain, 1);
  cr_assert_eq(cfg.anonymous, 0);
  cr_assert_eq(cfg.max_auth_failures, 3);
  cr_assert_eq(cfg.auth_failure_delay_ms, 1000);
  cr_assert_eq(cfg.conflict, XSR__CONFLICT_NEW_WINS);
  cr_assert_eq(cfg.preauth_timeout_s, 30);
  cr_assert_eq(cfg.idle_timeout_s, 300);
  cr_assert_eq(cfg.slow_consumer_timeout_s, 60);
  cr_assert_eq(cfg.max_connections, 0);
  cr_assert_eq(cfg.read_rate, 0);
  cr_assert_eq(cfg.log_level, XSR__LOG_INFO);
}

Test(server_config, every_key) {
  cr_assert_eq(parse("{\"domain\": \"example.com\", \"listen\": [\"127.0.0.1:5222\", "
                     "\"[::1]:5223\"], \"users\": \"u.json\", \"threads\": 4,"
                     " \"session_budget\": 65536, \"max_stanza\": 100000, \"plain\": false,"
                     " \"anonymous\": true, \"max_auth_failures\": 5,"
                     " \"auth_failure_delay_ms\": 0, \"conflict\": \"old-wins\","
                     " \"preauth_timeout_s\": 10, \"idle_timeout_s\": 0,"
                     " \"slow_consumer_timeout_s\": 5, \"max_connections\": 10000,"
                     " \"read_rate\": 100000, \"log_level\": \"debug\","
                     " \"port_file\": \"/tmp/p\"}"),
               0, "%s", err);
  cr_assert_str_eq(cfg.domain, "example.com");
  cr_assert_eq(cfg.nlisten, 2);
  cr_assert_str_eq(cfg.listen[0], "127.0.0.1:5222");
  cr_assert_str_eq(cfg.listen[1], "[::1]:5223");
  cr_assert_str_eq(cfg.users, "u.json");
  cr_assert_eq(cfg.threads, 4);
  cr_assert_eq(cfg.session_budget, 65536);
  cr_assert_eq(cfg.max_stanza, 100000);
  cr_assert_eq(cfg.plain, 0);
  cr_assert_eq(cfg.anonymous, 1);
  cr_assert_eq(cfg.max_auth_failures, 5);
  cr_assert_eq(cfg.auth_failure_delay_ms, 0);
  cr_assert_eq(cfg.conflict, XSR__CONFLICT_OLD_WINS);
  cr_assert_eq(cfg.preauth_timeout_s, 10);
  cr_assert_eq(cfg.idle_timeout_s, 0);
  cr_assert_eq(cfg.slow_consumer_timeout_s, 5);
  cr_assert_eq(cfg.max_connections, 10000);
  cr_assert_eq(cfg.read_rate, 100000);
  cr_assert_eq(cfg.log_level, XSR__LOG_DEBUG);
  cr_assert_str_eq(cfg.port_file, "/tmp/p");
}

Test(server_config, empty_object_keeps_defaults) {
  cr_assert_eq(parse("  {}  "), 0, "%s", err);
  cr_assert_eq(cfg.plain, 1);
  cr_assert_eq(cfg.nlisten, 0);
}

/* Each bad document and the message it must give. */
static const struct {
  const char *json;
  const char *msg;
} bad[] = {
    {"{\"lisen\": []}", "t.json: /lisen: unknown key"},
    {"{\"threads\": 0}", "t.json: /threads: expected an integer from 1 to 1024"},
    {"{\"threads\": 1025}", "t.json: /threads: expected an integer from 1 to 1024"},
    {"{\"threads\": \"4\"}", "t.json: /threads: expected an integer from 1 to 1024"},
    {"{\"threads\": 2.5}", "t.json: /threads: expected an integer from 1 to 1024"},
    {"{\"threads\": -1}", "t.json: /threads: expected an integer from 1 to 1024"},
    {"{\"session_budget\": 0}", "t.json: /session_budget: expected an integer from 1 to"},
    {"{\"max_stanza\": 1000}", "t.json: /max_stanza: expected an integer from 16384 to"},
    {"{\"plain\": 1}", "t.json: /plain: expected true or false"},
    {"{\"anonymous\": \"yes\"}", "t.json: /anonymous: expected true or false"},
    {"{\"conflict\": \"both-win\"}", "t.json: /conflict: expected \"new-wins\" or \"old-wins\""},
    {"{\"log_level\": \"verbose\"}", "t.json: /log_level: expected \"error\""},
    {"{\"listen\": \"127.0.0.1:5222\"}", "t.json: /listen: expected an array"},
    {"{\"listen\": []}", "t.json: /listen: must list at least one address"},
    {"{\"listen\": [\"127.0.0.1\"]}", "t.json: /listen/0: expected \"HOST:PORT\""},
    {"{\"listen\": [\"127.0.0.1:5222\", \"::1:5222\"]}", "t.json: /listen/1: expected"},
    {"{\"listen\": [\"127.0.0.1:65536\"]}", "t.json: /listen/0: expected"},
    {"{\"listen\": [5222]}", "t.json: /listen/0: expected"},
    {"{\"domain\": \"\"}", "t.json: /domain: must not be empty"},
    {"{\"domain\": 1}", "t.json: /domain: expected a string"},
    {"{\"domain\": \"a b\"}", "t.json: /domain: \"a b\" is not a valid domain name"},
    {"{\"domain\": \"me@a.example\"}", "t.json: /domain: \"me@a.example\" is not a domain name"},
    {"{\"domains\": \"a.example\"}", "t.json: /domains: expected an array of domain names"},
    {"{\"domains\": []}", "t.json: /domains: must list at least one domain"},
    {"{\"domains\": [\"a.example\", 7]}", "t.json: /domains/1: expected a non-empty string"},
    {"{\"domains\": [\"\"]}", "t.json: /domains/0: expected a non-empty string"},
    {"{\"domains\": [\"a.example\", \"b/c\"]}",
     "t.json: /domains/1: \"b/c\" is not a domain name (it has a local or resource part)"},
    {"{\"domains\": [\"a.example\", \"A.Example.\"]}",
     "t.json: /domains/1: \"A.Example.\" names a.example again (domains are compared in canonical "
     "form)"},
    {"{\"domain\": \"a.example\", \"domains\": [\"b.example\"]}",
     "t.json: /domains: \"domain\" is given too (\"domain\" is the one-element shorthand of "
     "\"domains\": give one of them)"},
    {"{\"domains\": [\"b.example\"], \"domain\": \"a.example\"}",
     "t.json: /domain: \"domains\" is given too"},
    {"{\"users\": 3}", "t.json: /users: expected a string"},
    {"{\"users\": \"a\\u0000b\"}", "t.json: strings must not contain \\u0000"},
    {"{\"threads\": 2, \"threads\": 3}", "t.json: /threads: duplicate key"},
    {"[1, 2]", "t.json: expected a JSON object"},
    {"{\"threads\": }", "t.json: invalid JSON: "},
    {"", "t.json: invalid JSON: "},
    {"{\"preauth_timeout_s\": 86401}", "t.json: /preauth_timeout_s: expected an integer from 0"},
    {"{\"max_auth_failures\": 0}", "t.json: /max_auth_failures: expected an integer from 1"},
};

Test(server_config, bad_documents) {
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    xsr__config_free(&cfg);
    err[0] = '\0';
    cr_assert_eq(parse(bad[i].json), -1, "accepted %s", bad[i].json);
    cr_assert(strncmp(err, bad[i].msg, strlen(bad[i].msg)) == 0, "for %s: got '%s', want '%s...'",
              bad[i].json, err, bad[i].msg);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
  }
}

Test(server_config, escaped_backslash_is_not_a_nul) {
  /* "a\\u0000" is a backslash followed by "u0000": a valid path. */
  cr_assert_eq(parse("{\"users\": \"a\\\\u0000\"}"), 0, "%s", err);
  cr_assert_str_eq(cfg.users, "a\\u0000");
}

Test(server_config, hostport) {
  char host[64];
  unsigned port;
  cr_assert_eq(xsr__config_hostport("127.0.0.1:5222", host, sizeof host, &port), 0);
  cr_assert_str_eq(host, "127.0.0.1");
  cr_assert_eq(port, 5222);
  cr_assert_eq(xsr__config_hostport("[::1]:0", host, sizeof host, &port), 0);
  cr_assert_str_eq(host, "::1");
  cr_assert_eq(port, 0);
  cr_assert_eq(xsr__config_hostport("localhost:65535", host, sizeof host, &port), 0);
  cr_assert_str_eq(host, "localhost");
  cr_assert_eq(port, 65535);
  const char *bad_hp[] = {"",           ":5222",       "host",   "host:",     "host:x",
                          "host:65536", "host:123456", "[::1]",  "[::1]5222", "::1:5222",
                          "[]:5222",    "host:-1",     "host:+1"};
  for (size_t i = 0; i < sizeof bad_hp / sizeof bad_hp[0]; i++)
    cr_assert_eq(xsr__config_hostport(bad_hp[i], host, sizeof host, &port), -1, "accepted '%s'",
                 bad_hp[i]);
  char tiny[4];
  cr_assert_eq(xsr__config_hostport("example.com:1", tiny, sizeof tiny, &port), -1);
}

Test(server_config, command_line) {
  cr_assert_eq(args(NULL, "--listen", "127.0.0.1:0", "--listen=[::1]:0", "--domain", "d.example",
                    "--users", "u.json", "--threads", "3", "--port-file", "pf", "--log-level",
                    "warn", NULL),
               XSR__CONFIG_RUN, "%s", err);
  cr_assert_eq(cfg.nlisten, 2);
  cr_assert_str_eq(cfg.listen[0], "127.0.0.1:0");
  cr_assert_str_eq(cfg.listen[1], "[::1]:0");
  cr_assert_str_eq(cfg.domain, "d.example");
  cr_assert_str_eq(cfg.users, "u.json");
  cr_assert_eq(cfg.threads, 3);
  cr_assert_str_eq(cfg.port_file, "pf");
  cr_assert_eq(cfg.log_level, XSR__LOG_WARN);
}

Test(server_config, help_version_add_user) {
  cr_assert_eq(args(NULL, "--help", NULL), XSR__CONFIG_HELP);
  cr_assert_eq(args(NULL, "--threads", "2", "-h", NULL), XSR__CONFIG_HELP);
  cr_assert_eq(args(NULL, "--version", NULL), XSR__CONFIG_VERSION);
  const char *jid = NULL;
  cr_assert_eq(args(&jid, "--users", "u.json", "--add-user", "alice@example.com", NULL),
               XSR__CONFIG_ADD_USER, "%s", err);
  cr_assert_str_eq(jid, "alice@example.com");
  xsr__config_free(&cfg);
  cr_assert_eq(args(&jid, "--add-user", "alice@example.com", NULL), XSR__CONFIG_ERROR);
  cr_assert_str_eq(err, "--add-user needs --users FILE");
  cr_assert_not_null(strstr(xsr__config_usage, "--add-user JID"));
}

Test(server_config, usage_errors) {
  const struct {
    const char *a, *b, *msg;
  } cases[] = {
      {"--threads", "0", "--threads '0': expected an integer from 1 to 1024"},
      {"--threads", "two", "--threads 'two': expected an integer"},
      {"--threads", "", "--threads '': expected an integer"},
      {"--listen", "nohost", "--listen 'nohost': expected HOST:PORT"},
      {"--log-level", "loud", "--log-level 'loud': expected error, warn, info or debug"},
      {"--frobnicate", NULL, "unknown option '--frobnicate'"},
      {"stray", NULL, "unexpected argument 'stray'"},
      {"--users", NULL, "missing value for option --users"},
      {"--help=yes", NULL, "option --help takes no value"},
      {"--domain", "", "--domain: empty value"},
      {"--domain", "x@y", "--domain: \"x@y\" is not a domain name"},
      {"--domain", "a..b", "--domain: \"a..b\" is not a valid domain name"},
      {"--config", "/nonexistent/xsr.json", "/nonexistent/xsr.json: No such file or directory"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    xsr__config_free(&cfg);
    cr_assert_eq(args(NULL, cases[i].a, cases[i].b, NULL), XSR__CONFIG_ERROR, "accepted %s",
                 cases[i].a);
    cr_assert(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0, "%s: got '%s'", cases[i].a,
              err);
  }
}

/* Options override the file, wherever they are on the command line; the
 * first --listen replaces the file's list. */
Test(server_config, command_line_overrides_file) {
  char path[] = "/tmp/xsr-config-test-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  const char *json = "{\"threads\": 8, \"listen\": [\"0.0.0.0:5222\", \"[::]:5222\"],"
                     " \"domain\": \"file.example\", \"plain\": false}";
  cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
  close(fd);
  cr_assert_eq(args(NULL, "--threads", "2", "--listen", "127.0.0.1:0", "--config", path, NULL),
               XSR__CONFIG_RUN, "%s", err);
  cr_assert_eq(cfg.threads, 2);
  cr_assert_eq(cfg.nlisten, 1);
  cr_assert_str_eq(cfg.listen[0], "127.0.0.1:0");
  cr_assert_str_eq(cfg.domain, "file.example");
  cr_assert_eq(cfg.plain, 0);
  xsr__config_free(&cfg);
  cr_assert_eq(args(NULL, "--config", path, "--config", path, NULL), XSR__CONFIG_ERROR);
  cr_assert_str_eq(err, "--config given twice");
  xsr__config_free(&cfg);
  /* Without --listen the file's list stays. */
  cr_assert_eq(args(NULL, "--config", path, NULL), XSR__CONFIG_RUN, "%s", err);
  cr_assert_eq(cfg.nlisten, 2);
  unlink(path);
}

Test(server_config, file_errors_name_the_file) {
  char path[] = "/tmp/xsr-config-test-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  const char *json = "{\"threads\": 2,\n \"bogus\": 1}";
  cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
  close(fd);
  cr_assert_eq(xsr__config_load(&cfg, path, err, sizeof err), -1);
  char want[128];
  snprintf(want, sizeof want, "%s: /bogus: unknown key", path);
  cr_assert_str_eq(err, want);
  unlink(path);
}

Test(server_config, too_many_listen) {
  char json[8192];
  size_t o = (size_t)snprintf(json, sizeof json, "{\"listen\": [");
  for (unsigned i = 0; i <= XSR__CONFIG_LISTEN_MAX; i++)
    o += (size_t)snprintf(json + o, sizeof json - o, "%s\"127.0.0.1:%u\"", i ? "," : "", 1000 + i);
  snprintf(json + o, sizeof json - o, "]}");
  cr_assert_eq(parse(json), -1);
  cr_assert_str_eq(err, "t.json: /listen: too many addresses");
}

/* Virtual hosts: "domains", its shorthand "domain", and --domain. */
Test(server_config, domains) {
  cr_assert_eq(parse("{\"domains\": [\"B.example\", \"a.example.\", \"\xc3\x84.example\"]}"), 0,
               "%s", err);
  cr_assert_eq(cfg.ndomains, 3);
  cr_assert_str_eq(cfg.domains[0], "b.example", "canonical");
  cr_assert_str_eq(cfg.domains[1], "a.example", "canonical: no trailing dot");
  cr_assert_str_eq(cfg.domains[2], "\xc3\xa4.example", "canonical: case-folded");
  cr_assert_eq(cfg.domain, cfg.domains[0], "the first is the default host");
  xsr__config_free(&cfg);
  cr_assert_null(cfg.domain);
  cr_assert_eq(cfg.ndomains, 0);

  /* The shorthand is a list of one; a later key replaces the list. */
  cr_assert_eq(parse("{\"domain\": \"Example.COM\"}"), 0, "%s", err);
  cr_assert_eq(cfg.ndomains, 1);
  cr_assert_str_eq(cfg.domain, "example.com");
  cr_assert_eq(parse("{\"domains\": [\"x.example\", \"y.example\"]}"), 0, "%s", err);
  cr_assert_eq(cfg.ndomains, 2);
  cr_assert_str_eq(cfg.domain, "x.example");

  /* --domain is repeatable; the first replaces the file's list. */
  char path[] = "/tmp/xsr-config-test-XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  const char *json = "{\"domains\": [\"file1.example\", \"file2.example\"]}";
  cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
  close(fd);
  xsr__config_free(&cfg);
  cr_assert_eq(args(NULL, "--domain", "C.example", "--config", path, "--domain=d.example", NULL),
               XSR__CONFIG_RUN, "%s", err);
  cr_assert_eq(cfg.ndomains, 2);
  cr_assert_str_eq(cfg.domains[0], "c.example");
  cr_assert_str_eq(cfg.domains[1], "d.example");
  cr_assert_str_eq(cfg.domain, "c.example");
  xsr__config_free(&cfg);
  cr_assert_eq(args(NULL, "--config", path, NULL), XSR__CONFIG_RUN, "%s", err);
  cr_assert_eq(cfg.ndomains, 2);
  cr_assert_str_eq(cfg.domain, "file1.example");
  xsr__config_free(&cfg);
  cr_assert_eq(args(NULL, "--domain", "a.example", "--domain", "A.EXAMPLE", NULL),
               XSR__CONFIG_ERROR);
  cr_assert_str_eq(err, "--domain: \"A.EXAMPLE\" names a.example again (domains are compared in "
                        "canonical form)");
  unlink(path);

  /* xsr__config_set_domains (the users file's domains, when none is given). */
  xsr__config_free(&cfg);
  const char *names[] = {"q.example", "P.example"};
  cr_assert_eq(xsr__config_set_domains(&cfg, "u.json", names, 2, err, sizeof err), 0, "%s", err);
  cr_assert_eq(cfg.ndomains, 2);
  cr_assert_str_eq(cfg.domains[1], "p.example");
  const char *dup[] = {"q.example", "Q.example"};
  cr_assert_eq(xsr__config_set_domains(&cfg, "u.json", dup, 2, err, sizeof err), -1);
  cr_assert_str_eq(err, "u.json: \"Q.example\" names q.example again (domains are compared in "
                        "canonical form)");
}

Test(server_config, too_many_domains) {
  size_t cap = (XSR__CONFIG_DOMAINS_MAX + 2) * 16 + 32;
  char *json = malloc(cap);
  cr_assert_not_null(json);
  size_t o = (size_t)snprintf(json, cap, "{\"domains\": [");
  for (unsigned i = 0; i <= XSR__CONFIG_DOMAINS_MAX; i++)
    o += (size_t)snprintf(json + o, cap - o, "%s\"d%u.example\"", i ? "," : "", i);
  snprintf(json + o, cap - o, "]}");
  cr_assert_eq(parse(json), -1);
  free(json);
  cr_assert(strstr(err, "/domains/1024: too many domains (at most 1024)") != NULL, "%s", err);
}
