#ifndef CBATCHD_SYSTEM_H
#define CBATCHD_SYSTEM_H
#include <sys/types.h>

/// Starts `argv[0]` (searched in PATH when `search_path` is set) in a new process group, with
/// stdin from /dev/null, stdout and stderr on the given descriptors, the working directory `cwd`
/// (NULL: inherit), every signal disposition reset to default and an empty signal mask.
/// Returns 0 and the pid, or an errno value.
int CBatchd_spawn(const char *const argv[], const char *const envp[], const char *cwd,
                  int stdout_fd, int stderr_fd, int search_path, pid_t *pid_out);

/// pipe2(fds, O_CLOEXEC), which needs _GNU_SOURCE and so is not visible to Swift.
int CBatchd_pipe_cloexec(int fds[2]);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a descriptor another thread can wake a poll with.
int CBatchd_eventfd(void);

/// pidfd_open(2): a descriptor that becomes readable when the process exits; -1 and errno.
int CBatchd_pidfd_open(pid_t pid);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process.
int CBatchd_set_child_subreaper(void);

#endif
