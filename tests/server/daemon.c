/* SPDX-License-Identifier: MIT */
/*
 * tests/server/daemon.c: see daemon.h.
 */
#define _GNU_SOURCE /* mkdtemp, nftw-free cleanup via dirent */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long td_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int td_tmpdir(char *out, size_t cap) {
  const char *base = getenv("TMPDIR");
  snprintf(out, cap, "%s/xsr-e2e-XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(out) ? 0 : -1;
}

void td_rmdir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[1024];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* Waits at most timeout_ms for pid; returns the decoded status or -1. */
static int wait_pid(pid_t pid, int timeout_ms) {
  long long end = td_now_ms() + timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 && errno != EINTR)
      return -1;
    if (td_now_ms() >= end)
      return -1;
    sleep_ms(10);
  }
}

int td_add_user(const char *bin, const char *users, const char *jid, const char *password) {
  int fds[2];
  if (pipe(fds))
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    dup2(fds[0], 0);
    close(fds[0]);
    close(fds[1]);
    execl(bin, bin, "--users", users, "--add-user", jid, (char *)NULL);
    _exit(127);
  }
  close(fds[0]);
  dprintf(fds[1], "%s\n", password);
  close(fds[1]);
  int st = wait_pid(pid, 60000);
  if (st < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return st;
}

int td_run(const char *bin, const char *const *args, const char *input, const char *errfile) {
  int fds[2];
  if (pipe(fds))
    return -1;
  size_t n = 0;
  while (args[n])
    n++;
  const char **argv = calloc(n + 2, sizeof *argv);
  if (!argv)
    return -1;
  argv[0] = bin;
  for (size_t i = 0; i < n; i++)
    argv[i + 1] = args[i];
  pid_t pid = fork();
  if (pid < 0) {
    free(argv);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[0], 0);
    close(fds[0]);
    close(fds[1]);
    int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
      close(fd);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  free(argv);
  close(fds[0]);
  if (input)
    dprintf(fds[1], "%s", input);
  close(fds[1]);
  int st = wait_pid(pid, 30000);
  if (st < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return st;
}

int td_file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static unsigned parse_port(const char *line) {
  const char *colon = strrchr(line, ':');
  return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

int td_start(td_daemon *d, const char *bin, const char *dir, const char *const *args) {
  static unsigned seq;
  memset(d, 0, sizeof *d);
  seq++;
  snprintf(d->log, sizeof d->log, "%s/log.%u", dir, seq);
  snprintf(d->portfile, sizeof d->portfile, "%s/port.%u", dir, seq);
  size_t n = 0;
  while (args[n])
    n++;
  const char **argv = calloc(n + 4, sizeof *argv);
  if (!argv)
    return -1;
  argv[0] = bin;
  for (size_t i = 0; i < n; i++)
    argv[i + 1] = args[i];
  argv[n + 1] = "--port-file";
  argv[n + 2] = d->portfile;
  pid_t pid = fork();
  if (pid < 0) {
    free(argv);
    return -1;
  }
  if (pid == 0) {
    int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 2);
      close(fd);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) {
      dup2(nul, 0);
      close(nul);
    }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  free(argv);
  d->pid = pid;
  long long end = td_now_ms() + 20000;
  while (td_now_ms() < end) {
    FILE *f = fopen(d->portfile, "r");
    if (f) {
      char line[128];
      while (fgets(line, sizeof line, f)) {
        unsigned p = parse_port(line);
        if (line[0] == '[')
          d->port6 = p;
        else if (!d->port)
          d->port = p;
      }
      fclose(f);
      if (d->port)
        return 0;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "xsr-router exited early (status %d)\n", st);
      d->pid = 0;
      td_dump_log(d);
      return -1;
    }
    sleep_ms(10);
  }
  fprintf(stderr, "xsr-router did not write %s in 20 s\n", d->portfile);
  td_stop(d, SIGKILL, 5000);
  td_dump_log(d);
  return -1;
}

int td_have_ipv6(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

int td_stop(td_daemon *d, int sig, int timeout_ms) {
  if (d->pid <= 0)
    return -1;
  kill(d->pid, sig);
  int st = wait_pid(d->pid, timeout_ms);
  if (st < 0) {
    fprintf(stderr, "xsr-router (pid %ld) did not exit in %d ms: killed\n", (long)d->pid,
            timeout_ms);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
  }
  d->pid = 0;
  return st;
}

int td_running(td_daemon *d) {
  if (d->pid <= 0)
    return 0;
  int st;
  if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
    d->pid = 0;
    return 0;
  }
  return 1;
}

void td_dump_log(const td_daemon *d) {
  FILE *f = fopen(d->log, "r");
  if (!f)
    return;
  fprintf(stderr, "---- %s (last 16 KiB)\n", d->log);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > 16384 ? size - 16384 : 0, SEEK_SET);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, n, stderr);
  fclose(f);
  fprintf(stderr, "----\n");
}

int td_log_has(const td_daemon *d, const char *needle) { return td_file_has(d->log, needle); }
