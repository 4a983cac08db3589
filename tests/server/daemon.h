/* SPDX-License-Identifier: MIT */
/*
 * tests/server/daemon.h: starting and stopping the real xsr-router binary
 * for end-to-end tests (tests/server/, tests/interop/).
 *
 * The daemon listens on 127.0.0.1 (and [::1] when asked) port 0 and reports
 * the ports through --port-file, which it writes atomically once listening;
 * its standard error goes to a log file in the test's temporary directory
 * and is printed when a test fails.  Every wait is bounded, and the daemon
 * is stopped by its PID only.
 */
#ifndef XSR_TEST_DAEMON_H
#define XSR_TEST_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

typedef struct td_daemon {
  pid_t pid;
  unsigned port;  /* the first address's port */
  unsigned port6; /* the [::1] address's, when listening there; else 0 */
  char log[512];
  char portfile[512];
} td_daemon;

/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC). */
long long td_now_ms(void);

/* A fresh temporary directory (mkdtemp) in out[0..cap).  Returns 0 or -1. */
int td_tmpdir(char *out, size_t cap);

/* Removes the directory made by td_tmpdir and the files in it. */
void td_rmdir(const char *dir);

/* Runs `bin --users USERS --add-user JID` with `password` + "\n" on its
 * standard input; returns its exit status, or -1 (it did not finish in
 * 60 s: killed). */
int td_add_user(const char *bin, const char *users, const char *jid, const char *password);

/* Runs `bin` with args[] (NULL-terminated, without the program name),
 * `input` (or nothing) on its standard input and its standard error in
 * errfile; returns its exit status, or -1 when it did not end in 30 s
 * (killed). */
int td_run(const char *bin, const char *const *args, const char *input, const char *errfile);

/* Whether the file contains `needle`. */
int td_file_has(const char *path, const char *needle);

/* Starts `bin` with argv args[] (NULL-terminated, without the program name)
 * plus --port-file DIR/port.N, standard error to DIR/log.N, and waits at
 * most 20 s for the port file.  Returns 0, or -1 (the log is printed). */
int td_start(td_daemon *d, const char *bin, const char *dir, const char *const *args);

/* Whether [::1] can be bound here. */
int td_have_ipv6(void);

/* Sends `sig` to the daemon and waits at most timeout_ms for it to exit
 * (then SIGKILL).  Returns its exit status (0..255), 128+N when a signal N
 * ended it, or -1 on a timeout.  The daemon is reaped either way. */
int td_stop(td_daemon *d, int sig, int timeout_ms);

/* Whether the daemon is still running (not reaped yet). */
int td_running(td_daemon *d);

/* Prints the daemon's log on stderr. */
void td_dump_log(const td_daemon *d);

/* Whether the daemon's log contains `needle`. */
int td_log_has(const td_daemon *d, const char *needle);

#endif
