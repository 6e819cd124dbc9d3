/* The machine's own limits, for bench/run's throughput probe (measured in the same run):
 *   limits spawn N THREADS   posix_spawn + waitpid of /bin/true, N times over THREADS threads
 *   limits recipe N THREADS  batchd's way of running /bin/true with nothing of batchd around it:
 *                            stdout and stderr on two pipes, a process group of its own, stdin
 *                            from /dev/null, clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD), then poll
 *                            on the pipes and the pidfd until both pipes end and it has exited,
 *                            and a look at its group; one thread per child at a time, as batchd's
 *                            watchers are (64: the bench's maxConcurrentJobs)
 *   limits recipe-epoll N SPAWNERS   the same recipe with another design around it: SPAWNERS
 *                            threads spawn, one thread watches every child's pipes and pidfd
 *                            through epoll, 64 children at once at most (what batchd would gain
 *                            from giving up its thread per child)
 *   limits fdatasync N DIR   N appends of 500 bytes to a file in DIR, each followed by fdatasync
 *   limits layout N DIR      the system calls one run of N distinct jobs costs batchd in SPEC
 *                            section 4's layout, with nothing else: the run's line appended to
 *                            its job's file (kept open, as batchd keeps it) and its index entry
 *                            written; for each 64 runs, as batchd batches runs that start or
 *                            end together, ids taken under the id file's lock, the journal's
 *                            lines and two writes of log lines. The second of two passes is
 *                            timed (the bench times batchd's second start, when every file
 *                            exists); one thread, as the history is one actor.
 *   limits wake N PERIOD_MS  N sleeps to deadlines PERIOD_MS apart (clock_nanosleep, absolute,
 *                            CLOCK_MONOTONIC); prints how late each ended, in µs, one a line. In
 *                            a VM a sleep ends when the host runs the idle vCPU again: this is
 *                            what batchd's timer spins to cover before each due time
 *   limits wake N PERIOD_MS SPIN_US   the same, but each sleep ends SPIN_US before its deadline
 *                            and the rest is spun on clock_gettime: how late a thread that is
 *                            already running notices a deadline. On a VM whose host takes the
 *                            vCPU away (steal time), this is the floor for any scheduler in it
 *   limits cpuid N LEAF      N CPUID instructions for LEAF (2: the cache descriptors glibc's
 *                            start-up decodes in every new process). In a VM, CPUID traps to the
 *                            hypervisor, and its cost there sets much of what any exec'd glibc
 *                            program (/bin/true too) costs to start.
 * Prints operations per second (wake: latenesses). */
#define _GNU_SOURCE
#include <cpuid.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static int per_thread;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *spawner(void *unused) {
    char *argv[] = {"/bin/true", NULL};
    for (int i = 0; i < per_thread; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0) waitpid(pid, NULL, 0);
    }
    return unused;
}

static atomic_int recipe_next;
static int recipe_total, recipe_null;

struct recipe_pipes { int out, err; };

static int recipe_child(void *argument) {
    struct recipe_pipes *pipes = argument;
    setpgid(0, 0);
    dup2(recipe_null, 0);
    dup2(pipes->out, 1);
    dup2(pipes->err, 2);
    syscall(436 /* close_range */, 3U, ~0U, 1U << 2 /* CLOSE_RANGE_CLOEXEC */);
    char *argv[] = {"/bin/true", NULL};
    execve("/bin/true", argv, environ);
    _exit(127);
}

static void *recipe_watcher(void *unused) {
    char stack[32 * 1024], buffer[4096];
    while (atomic_fetch_add(&recipe_next, 1) < recipe_total) {
        int out[2], err[2], pidfd = -1;
        if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return unused;
        struct recipe_pipes pipes = { out[1], err[1] };
        pid_t pid = clone(recipe_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &pipes, &pidfd);
        close(out[1]);
        close(err[1]);
        int reading[2] = { out[0], err[0] }, exited = pid < 0;
        while (reading[0] >= 0 || reading[1] >= 0 || !exited) {
            struct pollfd fds[3] = { { reading[0], POLLIN, 0 }, { reading[1], POLLIN, 0 }, { exited ? -1 : pidfd, POLLIN, 0 } };
            poll(fds, 3, -1);
            for (int i = 0; i < 2; i++) {
                if (fds[i].revents && read(reading[i], buffer, sizeof buffer) <= 0) {
                    close(reading[i]);
                    reading[i] = -1;
                }
            }
            if (!exited && waitpid(pid, NULL, WNOHANG) == pid) exited = 1;
        }
        kill(-pid, 0);
        close(pidfd);
    }
    return unused;
}

/* recipe-epoll: a child in flight, and which of its descriptors an epoll event is for (the
 * low two bits of the event's data). */
struct watched { pid_t pid; int out, err, pidfd, reading, exited; };
static int watch_epoll;
static atomic_int watched_done;
static sem_t watch_slots;

static void watch_descriptor(int fd, struct watched *child, unsigned long which) {
    struct epoll_event event = { .events = EPOLLIN, .data.u64 = (unsigned long)child | which };
    epoll_ctl(watch_epoll, EPOLL_CTL_ADD, fd, &event);
}

static void *epoll_spawner(void *unused) {
    char stack[32 * 1024];
    while (atomic_fetch_add(&recipe_next, 1) < recipe_total) {
        sem_wait(&watch_slots);
        int out[2], err[2];
        if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return unused;
        struct recipe_pipes pipes = { out[1], err[1] };
        struct watched *child = calloc(1, sizeof *child);
        child->pidfd = -1;
        child->pid = clone(recipe_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &pipes, &child->pidfd);
        close(out[1]);
        close(err[1]);
        child->out = out[0];
        child->err = err[0];
        child->reading = 2;
        watch_descriptor(child->out, child, 1);
        watch_descriptor(child->err, child, 2);
        watch_descriptor(child->pidfd, child, 3);
    }
    return unused;
}

static void finish_if_done(struct watched *child) {
    if (child->reading > 0 || !child->exited) return;
    kill(-child->pid, 0);
    close(child->pidfd);
    free(child);
    sem_post(&watch_slots);
    atomic_fetch_add(&watched_done, 1);
}

static void *epoll_watcher(void *unused) {
    struct epoll_event events[64];
    char buffer[4096];
    while (atomic_load(&watched_done) < recipe_total) {
        int count = epoll_wait(watch_epoll, events, 64, 100);
        for (int i = 0; i < count; i++) {
            struct watched *child = (struct watched *)(events[i].data.u64 & ~3UL);
            unsigned long which = events[i].data.u64 & 3;
            if (which == 3) {
                if (waitpid(child->pid, NULL, WNOHANG) != child->pid) continue;
                epoll_ctl(watch_epoll, EPOLL_CTL_DEL, child->pidfd, NULL);
                child->exited = 1;
            } else {
                int fd = which == 1 ? child->out : child->err;
                if (read(fd, buffer, sizeof buffer) > 0) continue;
                epoll_ctl(watch_epoll, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                child->reading--;
            }
            finish_if_done(child);
        }
    }
    return unused;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[1], "wake") == 0)) return 2;
    int count = atoi(argv[2]);
    if (strcmp(argv[1], "wake") == 0) {
        long long period = atoll(argv[3]) * 1000000LL;
        long long spin = argc == 5 ? atoll(argv[4]) * 1000LL : 0;
        long *late = calloc((size_t)count, sizeof *late);
        struct timespec woke;
        clock_gettime(CLOCK_MONOTONIC, &woke);
        long long due = woke.tv_sec * 1000000000LL + woke.tv_nsec;
        for (int i = 0; i < count; i++) {
            due += period;
            long long wake = due - spin;
            struct timespec until = { (time_t)(wake / 1000000000LL), (long)(wake % 1000000000LL) };
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {}
            do clock_gettime(CLOCK_MONOTONIC, &woke);
            while (woke.tv_sec * 1000000000LL + woke.tv_nsec < due);
            late[i] = (long)((woke.tv_sec * 1000000000LL + woke.tv_nsec - due) / 1000);
        }
        for (int i = 0; i < count; i++) printf("%ld\n", late[i]);
        free(late);
    } else if (strcmp(argv[1], "cpuid") == 0) {
        unsigned leaf = (unsigned)atoi(argv[3]), a, b, c, d, sink = 0;
        double start = now();
        for (int i = 0; i < count; i++) {
            __cpuid_count(leaf, 0, a, b, c, d);
            sink += a ^ b ^ c ^ d;
        }
        double took = now() - start;
        __asm__ volatile("" : : "r"(sink));
        printf("%.0f\n", count / took);
    } else if (strcmp(argv[1], "spawn") == 0) {
        int threads = atoi(argv[3]);
        per_thread = count / threads;
        pthread_t ids[64];
        double start = now();
        for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, spawner, NULL);
        for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        printf("%.0f\n", per_thread * threads / (now() - start));
    } else if (strcmp(argv[1], "recipe") == 0) {
        int threads = atoi(argv[3]);
        recipe_total = count;
        recipe_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        sigset_t children;
        sigemptyset(&children);
        sigaddset(&children, SIGCHLD);
        pthread_sigmask(SIG_BLOCK, &children, NULL);  /* batchd reads SIGCHLD from a signalfd */
        pthread_t ids[256];
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, 256 * 1024);
        double start = now();
        for (int t = 0; t < threads && t < 256; t++) pthread_create(&ids[t], &attributes, recipe_watcher, NULL);
        for (int t = 0; t < threads && t < 256; t++) pthread_join(ids[t], NULL);
        printf("%.0f\n", count / (now() - start));
    } else if (strcmp(argv[1], "recipe-epoll") == 0) {
        int spawners = atoi(argv[3]);
        recipe_total = count;
        recipe_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        watch_epoll = epoll_create1(EPOLL_CLOEXEC);
        sem_init(&watch_slots, 0, 64);
        sigset_t children;
        sigemptyset(&children);
        sigaddset(&children, SIGCHLD);
        pthread_sigmask(SIG_BLOCK, &children, NULL);
        pthread_t ids[16], watcher;
        double start = now();
        pthread_create(&watcher, NULL, epoll_watcher, NULL);
        for (int t = 0; t < spawners && t < 16; t++) pthread_create(&ids[t], NULL, epoll_spawner, NULL);
        for (int t = 0; t < spawners && t < 16; t++) pthread_join(ids[t], NULL);
        pthread_join(watcher, NULL);
        printf("%.0f\n", count / (now() - start));
    } else if (strcmp(argv[1], "layout") == 0) {
        /* As batchd does it now: every job's .jsonl and .idx open (the first pass opens them,
         * as batchd's start-up does), each run an fstat, its line and its index entry; the id
         * file's lock, the journal line and the two log lines shared by each 64 runs, as the
         * runs admitted and recorded together share them. */
        char path[4096], line[400], entry[32] = {0}, digits[21];
        memset(line, 'a', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        static char batch_bytes[64 * 200];
        memset(batch_bytes, 'b', sizeof batch_bytes);
        struct rlimit limit;
        getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
        int *files = calloc(count, sizeof(int)), *indexes = calloc(count, sizeof(int));
        off_t *entries = calloc(count, sizeof(off_t));
        snprintf(path, sizeof path, "%s/runs", argv[3]);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/journal", argv[3]);
        int journal = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        snprintf(path, sizeof path, "%s/log", argv[3]);
        int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        snprintf(path, sizeof path, "%s/last-id", argv[3]);
        int ids = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        for (int i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s/runs/t%05d.jsonl", argv[3], i);
            files[i] = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            snprintf(path, sizeof path, "%s/runs/t%05d.idx", argv[3], i);
            indexes[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (files[i] < 0 || indexes[i] < 0) { perror("open"); return 1; }
        }
        double start = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) start = now();
            for (int i = 0; i < count; i++) {
                struct stat info;
                if (i % 64 == 0) {
                    flock(ids, LOCK_EX);
                    pread(ids, digits, 20, 0);
                    pwrite(ids, digits, 20, 0);
                    flock(ids, LOCK_UN);
                    if (write(journal, batch_bytes, 64 * 150) != 64 * 150) return 1;
                    if (write(log, batch_bytes, sizeof batch_bytes) != sizeof batch_bytes) return 1;
                }
                fstat(files[i], &info);
                if (write(files[i], line, sizeof line) != sizeof line) return 1;
                pwrite(indexes[i], entry, 32, entries[i]++ * 32);  /* its count is in memory */
                if (i % 64 == 63 || i == count - 1) {
                    if (write(log, batch_bytes, sizeof batch_bytes) != sizeof batch_bytes) return 1;
                }
            }
        }
        printf("%.0f\n", count / (now() - start));
        close(journal);
        close(log);
        close(ids);
    } else {
        char path[4096], line[500];
        snprintf(path, sizeof path, "%s/limits-fdatasync", argv[3]);
        memset(line, 'a', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        double start = now();
        for (int i = 0; i < count; i++) {
            if (write(fd, line, sizeof line) != sizeof line) return 1;
            fdatasync(fd);
        }
        printf("%.0f\n", count / (now() - start));
        close(fd);
        unlink(path);
    }
    return 0;
}
