#define _GNU_SOURCE
#include "CBatchdSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <malloc.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int CBatchd_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                  int stdout_fd, int stderr_fd, int search_path, pid_t *pid_out) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    if (!result) result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (!result) result = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (!result) result = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    if (!result && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (!result) result = posix_spawnattr_setsigdefault(&attributes, &all);
    if (!result) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (!result) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (!result) result = posix_spawnattr_setflags(&attributes,
        POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (!result) {
        if (search_path) {
            result = posix_spawnp(pid_out, argv[0], &actions, &attributes, (char *const *)argv, (char *const *)envp);
        } else {
            result = posix_spawn(pid_out, argv[0], &actions, &attributes, (char *const *)argv, (char *const *)envp);
        }
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

int CBatchd_spawn_actions_chdir(posix_spawn_file_actions_t *actions, const char *directory) {
    return posix_spawn_file_actions_addchdir_np(actions, directory);
}

int CBatchd_spawn_actions_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int CBatchd_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int CBatchd_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int CBatchd_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int CBatchd_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

int CBatchd_timerfd_create(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
}

int CBatchd_timerfd_arm(int fd, long long nanoseconds) {
    struct itimerspec spec = { { 0, 0 }, { nanoseconds / 1000000000LL, nanoseconds % 1000000000LL } };
    return timerfd_settime(fd, 0, &spec, NULL);
}

int CBatchd_wait_either(int first, int second) {
    struct pollfd entries[2] = { { .fd = first, .events = POLLIN }, { .fd = second, .events = POLLIN } };
    int result;
    do {
        result = poll(entries, 2, -1);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return 0;
    return (entries[0].revents ? 1 : 0) | (entries[1].revents ? 2 : 0);
}

int CBatchd_set_timer_slack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int CBatchd_block_signals(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int CBatchd_signalfd(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

int CBatchd_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t result;
    do {
        result = read(fd, &info, sizeof info);
    } while (result < 0 && errno == EINTR);
    return result == (ssize_t)sizeof info ? (int)info.ssi_signo : -1;
}

int CBatchd_wait_readable_ms(int fd, int milliseconds) {
    struct pollfd entry = { .fd = fd, .events = POLLIN, .revents = 0 };
    int result;
    do {
        result = poll(&entry, 1, milliseconds);
    } while (result < 0 && errno == EINTR);
    return result;
}

int CBatchd_syncfs(int fd) {
    return syncfs(fd);
}

int CBatchd_trim_heap(void) {
    return malloc_trim(0);
}

void CBatchd_name_thread(const char *name) {
    prctl(PR_SET_NAME, name, 0, 0, 0);
}

void CBatchd_tune_malloc(void) {
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

long CBatchd_release_code_pages(void) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    char line[4096];
    long released = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char permissions[5];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, permissions, &path_at) < 3) continue;
        // Private, executable, never written (no w), backed by a file (a path, not [vdso]).
        if (strcmp(permissions, "r-xp") != 0 || path_at == 0 || line[path_at] != '/') continue;
        if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) released += (long)(end - start);
    }
    fclose(maps);
    return released;
}
