#ifndef CBATCHD_SYSTEM_H
#define CBATCHD_SYSTEM_H
#include <sys/types.h>

/// Starts `argv[0]` (searched in PATH when `search_path` is set) in a new process group, with
/// stdin from /dev/null, stdout and stderr on the given descriptors, the working directory `cwd`
/// (NULL: inherit), no other descriptor (the rest close at execve, close-on-exec or not), every
/// signal disposition reset to default and an empty signal mask.
/// Returns 0, the pid and a pidfd for it (close-on-exec; -1 where the kernel cannot hand one
/// over at the spawn), or an errno value (ENOENT, EACCES, ... from the search or execve).
/// Uses at most 40 KiB of the calling thread's stack.
int CBatchd_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                  int stdout_fd, int stderr_fd, int search_path, pid_t *pid_out, int *pidfd_out);

/// Descriptors at or above `band` are the process's long-lived ones (0: no band). While a
/// band is set, a spawned child copies only the descriptors below it, so the history files the
/// daemon holds open cost its children nothing.
void CBatchd_set_descriptor_band(int band);

/// `fd` moved to the lowest free number at or above the band (close-on-exec; the old number is
/// closed); `fd` itself when no band is set, it is there already, or there is no room.
int CBatchd_move_to_band(int fd);

/// Raises the soft RLIMIT_NOFILE to `wanted` (at most the hard limit); returns the soft limit
/// now in force (-1 if it cannot be read). Children get the original soft limit back.
long CBatchd_raise_descriptor_limit(long wanted);

#include <spawn.h>

/// posix_spawn_file_actions_addchdir_np and _addclosefrom_np (glibc 2.29 and 2.34), which need
/// _GNU_SOURCE and so are not visible to Swift: the test kit's Subprocess uses them.
int CBatchd_spawn_actions_chdir(posix_spawn_file_actions_t *actions, const char *directory);
int CBatchd_spawn_actions_closefrom(posix_spawn_file_actions_t *actions, int from);

/// pipe2(fds, O_CLOEXEC), which needs _GNU_SOURCE and so is not visible to Swift.
int CBatchd_pipe_cloexec(int fds[2]);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a descriptor another thread can wake a poll with.
int CBatchd_eventfd(void);

/// pidfd_open(2): a descriptor that becomes readable when the process exits; -1 and errno.
int CBatchd_pidfd_open(pid_t pid);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process.
int CBatchd_set_child_subreaper(void);

/// A CLOCK_MONOTONIC timerfd (close-on-exec, non-blocking); -1 and errno.
int CBatchd_timerfd_create(void);

/// Arms `fd` to expire once, `nanoseconds` from now (at least 1 ns); 0 disarms it.
int CBatchd_timerfd_arm(int fd, long long nanoseconds);

/// A CLOCK_REALTIME timerfd (close-on-exec) armed for the far future with
/// TFD_TIMER_CANCEL_ON_SET: it never expires, and its `read` fails with ECANCELED when the
/// wall clock is set. -1 and errno.
int CBatchd_clock_set_fd(void);

/// Blocks until the wall clock is set; returns 1 then, -1 on another error. Call it again for
/// the next setting.
int CBatchd_wait_clock_set(int fd);

/// Blocks until `first` or `second` is readable. Returns a bit set: 1 first, 2 second.
/// (poll without a timeout: poll's own timeouts get 0.1% of their length as slack, 1 ms on a
/// one-second sleep, while a timerfd expires on time.)
int CBatchd_wait_either(int first, int second);

/// prctl(PR_SET_TIMERSLACK) for the calling thread: how late the kernel may wake it, in ns.
int CBatchd_set_timer_slack(unsigned long nanoseconds);

/// Waits up to `milliseconds` for `fd` to be readable; returns what poll returns.
int CBatchd_wait_readable_ms(int fd, int milliseconds);

/// Blocks `signals` in the calling thread (and so in every thread it starts later).
int CBatchd_block_signals(const int *signals, int count);

/// A signalfd for `signals` (which must be blocked), blocking unless `nonblocking`; -1 and errno.
int CBatchd_signalfd(const int *signals, int count, int nonblocking);

/// Waits up to `milliseconds` (-1: no limit) for `first` or `second` (-1: none) to be readable.
/// Returns a bit set (1 first, 2 second), 0 on timeout, -1 on error.
int CBatchd_wait_either_ms(int first, int second, int milliseconds);

/// Reads one signal from a signalfd (blocking, unless the descriptor is not); returns its
/// number, or -1 (a non-blocking one with nothing pending included).
int CBatchd_read_signal(int fd);

/// syncfs(2) (needs _GNU_SOURCE): writes every dirty file of the filesystem holding `fd` and
/// commits its journal once; 0 or -1 and errno.
int CBatchd_syncfs(int fd);

/// malloc_trim(0): gives the heap's free pages back to the system (glibc keeps them otherwise,
/// so a daemon's RSS would stay at the high-water mark of loading its configuration).
int CBatchd_trim_heap(void);

/// For a long-running daemon rather than a batch program: at most two malloc arenas (not eight
/// per core: each thread's arena kept its own freed memory), and free memory at the top of a
/// heap above 128 KiB goes back to the kernel (glibc's threshold grows to 32 MB by itself).
void CBatchd_tune_malloc(void);

/// Unmaps the pages of the program's and its libraries' files that this process has faulted in
/// so far and never written: code, read-only data, and the executable's .rodata. They stay in the
/// page cache, and what the process touches from now on is mapped again by minor faults; a page
/// the process wrote (relocations) is its only copy and is kept. Returns the bytes released.
long CBatchd_release_file_pages(void);

/// After `milliseconds`, on a thread of its own that then ends: `malloc_trim`, then
/// `CBatchd_release_file_pages`. Returns pthread_create's result (0: started).
int CBatchd_release_memory_later(int milliseconds);

/// Names the calling thread (at most 15 bytes are kept), for top -H and /proc/PID/task/*/comm.
void CBatchd_name_thread(const char *name);

/// A hint to the CPU that the caller spins waiting for another thread (x86 `pause`, arm `yield`).
static inline void CBatchd_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
