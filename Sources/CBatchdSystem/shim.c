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
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <malloc.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <sys/auxv.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define CBATCHD_CLOSE_RANGE_UNSHARE (1U << 1)
#define CBATCHD_CLOSE_RANGE_CLOEXEC (1U << 2)
#include <sys/resource.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* What the child of CBatchd_spawn needs. It shares the parent's memory (CLONE_VM) until it
 * calls execve, and reports a failure through `error` before it exits. */
struct spawn_request {
    const char *path;
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    int stdout_fd, stderr_fd;
    /* > 0: the child shares the parent's descriptor table (CLONE_FILES) and first takes a copy
     * of the descriptors below this number only (see `descriptor_band`). */
    int unshare_below;
    volatile int error;
};

/* Descriptors at or above `descriptor_band` are the daemon's long-lived ones (history files,
 * see CBatchd_move_to_band); 0 while no band is set. A child spawned while the band is set
 * copies only the descriptors below it: a table of twenty thousand history descriptors made
 * every spawn here 0.8-1.2 ms slower when the child copied it all (clone copies the table,
 * execve then closes each close-on-exec entry), and costs it nothing this way. */
static int descriptor_band;
/* close_range(2) with CLOSE_RANGE_UNSHARE (Linux 5.9): without it the band is not used. */
static int can_unshare_range;
/* The soft RLIMIT_NOFILE batchd was started with, given back to every child when the daemon
 * raised its own (CBatchd_raise_descriptor_limit): a program that closes every descriptor up
 * to its limit at start-up would otherwise loop over a million of them. */
static struct rlimit inherited_nofile;
static int nofile_raised;

static int move_descriptor(int from, int to) {
    if (from == to) return fcntl(to, F_SETFD, 0);  /* dup2 onto itself would keep FD_CLOEXEC */
    return dup2(from, to) < 0 ? -1 : 0;
}

/* The signals whose disposition is not SIG_DFL, found once, at the first spawn: the child must
 * reset them before it unblocks signals (no handler of the parent's may run in the child while
 * they share memory, and an ignored signal would stay ignored through execve), and asking the
 * kernel about all 64 in the child, each spawn, was 64 system calls while the parent waits.
 * batchd sets no disposition after its first spawn (its signals are read from a signalfd), so
 * the list stays true; SIGPIPE is reset in any case, being the one a library is likeliest to
 * ignore for a while (libcurl does, unless told CURLOPT_NOSIGNAL). The kernel is asked directly,
 * not through glibc's sigaction, which refuses glibc's own two signals: a parent started by
 * posix_spawn has those ignored, and its children would inherit that. */
static int handled_signals[NSIG];
static int handled_count;

/* /dev/null, opened once (close-on-exec) for every child's stdin: an open in each child was a
 * path lookup while the parent waits. -1 if it could not be opened; the child then opens it. */
static int dev_null = -1;

static pthread_once_t spawn_setup_once = PTHREAD_ONCE_INIT;

/* The kernel's struct sigaction, whose first field is the handler on every architecture;
 * zeroed, it says SIG_DFL, no flags, nothing masked. Larger than any architecture's. */
struct kernel_disposition {
    void *handler;
    unsigned long rest[7];
};

static void set_up_spawns(void) {
    dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* Closes nothing; fails with ENOSYS where close_range is missing. */
    can_unshare_range = syscall(SYS_close_range, ~0U, ~0U, 0U) == 0;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        struct kernel_disposition current = { 0 };
        if (syscall(SYS_rt_sigaction, sig, NULL, &current, NSIG / 8) != 0) continue;
        if (current.handler != (void *)SIG_DFL || sig == SIGPIPE) handled_signals[handled_count++] = sig;
    }
}

/* The child, on the stack CBatchd_spawn lends it, with every signal blocked: system calls only,
 * no locks and no allocation (the parent's heap and locks are the child's until execve). */
static int spawn_child(void *argument) {
    struct spawn_request *request = argument;
    /* Sharing the parent's table, this child must change nothing in it: its first act is to
     * take a private copy of the descriptors below the band (and none above). */
    if (request->unshare_below > 0 &&
        syscall(SYS_close_range, (unsigned)request->unshare_below, ~0U, CBATCHD_CLOSE_RANGE_UNSHARE) != 0) {
        request->error = errno;
        _exit(127);
    }
    if (nofile_raised) syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &inherited_nofile, NULL);
    struct kernel_disposition to_default = { 0 };
    for (int i = 0; i < handled_count; i++) syscall(SYS_rt_sigaction, handled_signals[i], &to_default, NULL, NSIG / 8);
    if (setpgid(0, 0) != 0) goto fail;
    /* stdin: the daemon's /dev/null (the copy is not close-on-exec), or one opened here if the
     * daemon could not keep one; that one closes at execve with the rest (close_range below). */
    int null_fd = dev_null >= 0 ? dev_null : open("/dev/null", O_RDONLY);
    if (null_fd < 0 || move_descriptor(null_fd, 0) != 0) goto fail;
    if (move_descriptor(request->stdout_fd, 1) != 0) goto fail;
    if (move_descriptor(request->stderr_fd, 2) != 0) goto fail;
    if (request->cwd != NULL && chdir(request->cwd) != 0) goto fail;
    /* Descriptors the daemon inherited without close-on-exec (from a shell, a supervisor) are
     * not the job's: every one above stderr closes at execve. Kernels before 5.11 lack the
     * flag; there they are left as they are. */
    syscall(SYS_close_range, 3U, ~0U, CBATCHD_CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, NSIG / 8);
    execve(request->path, (char *const *)request->argv, (char *const *)request->envp);
fail:
    request->error = errno;
    _exit(127);
}

/* posix_spawnp's search, done in the parent: the first PATH entry with an executable regular
 * file of that name; EACCES when only non-executable ones were found, ENOENT when none. */
static int search_path_for(const char *name, char *found, size_t size) {
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0') path = "/bin:/usr/bin";
    int result = ENOENT;
    size_t name_length = strlen(name);
    while (1) {
        const char *end = strchrnul(path, ':');
        size_t length = (size_t)(end - path);
        const char *directory = length == 0 ? "." : path;  /* an empty entry: the working directory */
        if (length == 0) length = 1;
        if (length + 1 + name_length + 1 <= size) {
            memcpy(found, directory, length);
            found[length] = '/';
            memcpy(found + length + 1, name, name_length + 1);
            struct stat info;
            if (stat(found, &info) == 0 && S_ISREG(info.st_mode)) {
                if (access(found, X_OK) == 0) return 0;
                result = EACCES;
            }
        }
        if (*end == '\0') break;
        path = end + 1;
    }
    return result;
}

int CBatchd_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                  int stdout_fd, int stderr_fd, int search_path, pid_t *pid_out, int *pidfd_out) {
    /* clone(CLONE_VM | CLONE_VFORK), as glibc's posix_spawn does, but with the child's stack
     * on this thread's own stack rather than one mapped and unmapped for each spawn: in a
     * process with threads on every core, each munmap is a TLB shootdown of all of them. */
    char found[4096];
    struct spawn_request request = { argv[0], argv, envp, cwd, stdout_fd, stderr_fd, 0, 0 };
    if (search_path && strchr(argv[0], '/') == NULL) {
        int searched = search_path_for(argv[0], found, sizeof found);
        if (searched != 0) return searched;
        request.path = found;
    }
    pthread_once(&spawn_setup_once, set_up_spawns);
    /* The child needs its stdin, stdout and stderr sources: all below the band, or it copies
     * the whole table (a daemon out of low descriptors: the rare case, and only slower). */
    int band = __atomic_load_n(&descriptor_band, __ATOMIC_RELAXED);
    int share = band > 0 && can_unshare_range && stdout_fd < band && stderr_fd < band && dev_null < band;
    request.unshare_below = share ? band : 0;
    int sharing = share ? CLONE_FILES : 0;
    char stack[32 * 1024] __attribute__((aligned(64)));
    /* Every signal blocked, glibc's own too (pthread_sigmask leaves those out): no handler of
     * the parent's may run in the child while they share memory. */
    sigset_t all, old;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, NSIG / 8);
    /* CLONE_PIDFD hands back the pidfd the watcher polls, saving a pidfd_open; kernels before
     * 5.2 refuse the flag, and then the caller opens one itself. */
    int pidfd = -1;
    pid_t pid = clone(spawn_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | sharing | SIGCHLD, &request, &pidfd);
    if (pid < 0 && errno == EINVAL) {
        pidfd = -1;
        pid = clone(spawn_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | sharing | SIGCHLD, &request);
    }
    int result = pid < 0 ? errno : 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, NSIG / 8);
    if (result != 0) return result;
    if (request.error != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}  /* it ended before exec: reap it */
        if (pidfd >= 0) close(pidfd);
        return request.error;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
}

void CBatchd_set_descriptor_band(int band) {
    __atomic_store_n(&descriptor_band, band, __ATOMIC_RELAXED);
}

int CBatchd_move_to_band(int fd) {
    int band = __atomic_load_n(&descriptor_band, __ATOMIC_RELAXED);
    if (fd < 0 || band <= 0 || fd >= band) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, band);
    if (moved < 0) return fd;  /* no room above the band: it stays where it is, and works */
    close(fd);
    return moved;
}

long CBatchd_raise_descriptor_limit(long wanted) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if (limit.rlim_cur != RLIM_INFINITY && (long)limit.rlim_cur < wanted) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY || (long)limit.rlim_max > wanted ? (rlim_t)wanted : limit.rlim_max;
        if (raised.rlim_cur > limit.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            if (!nofile_raised) inherited_nofile = limit;
            nofile_raised = 1;
            return (long)raised.rlim_cur;
        }
    }
    return limit.rlim_cur == RLIM_INFINITY ? wanted : (long)limit.rlim_cur;
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

static int arm_clock_set(int fd) {
    /* Absolute, in the year 2500: far enough that it never expires. */
    struct itimerspec spec = { { 0, 0 }, { 16725225600LL, 0 } };
    return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, NULL);
}

int CBatchd_clock_set_fd(void) {
    int fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
    if (fd < 0) return -1;
    if (arm_clock_set(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int CBatchd_wait_clock_set(int fd) {
    uint64_t expirations;
    for (;;) {
        if (read(fd, &expirations, sizeof expirations) >= 0) {  /* the year 2500 came: arm it again */
            if (arm_clock_set(fd) != 0) return -1;
            continue;
        }
        if (errno == EINTR) continue;
        /* ECANCELED once per setting; the timer stays armed and reports the next one too. */
        return errno == ECANCELED ? 1 : -1;
    }
}

int CBatchd_wait_either(int first, int second) {
    int ready = CBatchd_wait_either_ms(first, second, -1);
    return ready < 0 ? 0 : ready;
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

int CBatchd_signalfd(const int *signals, int count, int nonblocking) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_CLOEXEC | (nonblocking ? SFD_NONBLOCK : 0));
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

int CBatchd_wait_either_ms(int first, int second, int milliseconds) {
    struct pollfd entries[2] = { { .fd = first, .events = POLLIN }, { .fd = second, .events = POLLIN } };
    int result;
    do {
        result = poll(entries, 2, milliseconds);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return -1;
    return (entries[0].revents ? 1 : 0) | (entries[1].revents ? 2 : 0);
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

/* Drops the pages of [start, end) that are the file's own (present, and mapped from the page
   cache rather than copied on write: /proc/self/pagemap's bit 61), in runs; a page the process
   has written to is its only copy and is kept. The caller passes only ranges nobody writes to
   now, so no write can slip in between the look and the drop. Returns the bytes dropped. */
static long release_file_pages(int pagemap, unsigned long page, unsigned long start, unsigned long end) {
    uint64_t entries[512];
    long released = 0;
    unsigned long run = 0;  /* the start of the run of droppable pages, or 0 */
    for (unsigned long chunk = start; chunk < end; chunk += 512 * page) {
        unsigned long pages = (end - chunk) / page < 512 ? (end - chunk) / page : 512;
        ssize_t got = pread(pagemap, entries, pages * sizeof entries[0], (off_t)(chunk / page * sizeof entries[0]));
        if (got != (ssize_t)(pages * sizeof entries[0])) return released;
        for (unsigned long i = 0; i <= pages; i++) {
            unsigned long address = chunk + i * page;
            int droppable = i < pages && (entries[i] >> 63 & 1) && (entries[i] >> 61 & 1);
            if (droppable && run == 0) run = address;
            if (!droppable && run != 0) {
                if (madvise((void *)run, address - run, MADV_DONTNEED) == 0) released += (long)(address - run);
                run = 0;
            }
        }
    }
    return released;
}

/* Where the program's .rodata is mapped, from the section headers of /proc/self/exe. This
   build's linker puts it in a writable segment (one input section marked writable makes the
   whole output section so), out of reach of the read-only pass below; it is never written.
   Read once per process (the caller holds the release's lock): every release after a quiet
   spell would otherwise read the headers again. */
static int read_program_rodata(unsigned long *start, unsigned long *end);

static int program_rodata(unsigned long *start, unsigned long *end) {
    static int looked, found_it;
    static unsigned long found_start, found_end;
    if (!looked) {
        looked = 1;
        found_it = read_program_rodata(&found_start, &found_end);
    }
    *start = found_start;
    *end = found_end;
    return found_it;
}

static int read_program_rodata(unsigned long *start, unsigned long *end) {
    const ElfW(Phdr) *headers = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long count = getauxval(AT_PHNUM), bias = 0;
    int found = 0;
    for (unsigned long i = 0; headers && i < count; i++) {
        if (headers[i].p_type == PT_PHDR) {
            bias = (unsigned long)headers - headers[i].p_vaddr;
            found = 1;
        }
    }
    if (!found) return 0;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ElfW(Ehdr) file;
    ElfW(Shdr) names, section;
    char name[8];
    int ok = 0;
    if (pread(fd, &file, sizeof file, 0) == sizeof file && file.e_shentsize == sizeof section && file.e_shstrndx < file.e_shnum &&
        pread(fd, &names, sizeof names, (off_t)(file.e_shoff + file.e_shstrndx * sizeof section)) == sizeof names) {
        for (unsigned i = 0; i < file.e_shnum && !ok; i++) {
            if (pread(fd, &section, sizeof section, (off_t)(file.e_shoff + i * sizeof section)) != sizeof section) break;
            if (pread(fd, name, sizeof name, (off_t)(names.sh_offset + section.sh_name)) != sizeof name) continue;
            if (memcmp(name, ".rodata", 8) == 0 && section.sh_type == SHT_PROGBITS && (section.sh_flags & SHF_ALLOC)) {
                *start = bias + section.sh_addr;
                *end = *start + section.sh_size;
                ok = 1;
            }
        }
    }
    close(fd);
    return ok;
}

/* A range to release, and whether every page of it is known to be the file's (code, when
   /proc/self/pagemap cannot be read). */
struct release_range { unsigned long start, end; int whole; };

long CBatchd_release_file_pages(void) {
    /* Every range is found first, with stdio and sscanf, and only then released, with nothing
       but pread and madvise: code released while the loop still ran (libc's own, the scanner's)
       was faulted straight back in, 64 KiB around each page it touched. */
    static pthread_mutex_t one_at_a_time = PTHREAD_MUTEX_INITIALIZER;  /* `ranges` is shared */
    static struct release_range ranges[1024];
    int count = 0;
    pthread_mutex_lock(&one_at_a_time);
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) {
        pthread_mutex_unlock(&one_at_a_time);
        return -1;
    }
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    char line[4096];
    while (count < 1023 && fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char permissions[5];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, permissions, &path_at) < 3) continue;
        // Private, never writable (code, and read-only data: symbol tables, Swift's type metadata,
        // unwind tables, relocated data made read-only), backed by a file (a path, not [vdso]).
        if (permissions[1] != '-' || permissions[3] != 'p' || path_at == 0 || line[path_at] != '/') continue;
        if (pagemap < 0 && strcmp(permissions, "r-xp") != 0) continue;  // without pagemap, code only
        ranges[count++] = (struct release_range){ start, end, pagemap < 0 };
    }
    fclose(maps);
    unsigned long start, end;
    if (pagemap >= 0 && program_rodata(&start, &end)) {
        start = (start + page - 1) / page * page;  // whole pages of it only: its neighbours are written
        end = end / page * page;
        if (start < end) ranges[count++] = (struct release_range){ start, end, 0 };
    }
    long released = 0;
    for (int i = 0; i < count; i++) {
        if (!ranges[i].whole) {
            released += release_file_pages(pagemap, page, ranges[i].start, ranges[i].end);
        } else if (madvise((void *)ranges[i].start, ranges[i].end - ranges[i].start, MADV_DONTNEED) == 0) {
            released += (long)(ranges[i].end - ranges[i].start);  // code is never written: every page is the file's
        }
    }
    if (pagemap >= 0) close(pagemap);
    pthread_mutex_unlock(&one_at_a_time);
    return released;
}

static void *release_later(void *argument) {
    long milliseconds = (long)(intptr_t)argument;
    struct timespec delay = { .tv_sec = milliseconds / 1000, .tv_nsec = milliseconds % 1000 * 1000000L };
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {}
    CBatchd_trim_heap();
    CBatchd_release_file_pages();
    return NULL;
}

int CBatchd_release_memory_later(int milliseconds) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    pthread_t thread;
    int result = pthread_create(&thread, &attributes, release_later, (void *)(intptr_t)milliseconds);
    pthread_attr_destroy(&attributes);
    if (result == 0) pthread_setname_np(thread, "batchd-release");
    return result;
}
