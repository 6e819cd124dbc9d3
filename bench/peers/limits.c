/* The machine's own limits, for bench/run's throughput probe (measured in the same run):
 *   limits spawn N THREADS   posix_spawn + waitpid of /bin/true, N times over THREADS threads
 *   limits fdatasync N DIR   N appends of 500 bytes to a file in DIR, each followed by fdatasync
 * Prints operations per second. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int count = atoi(argv[2]);
    if (strcmp(argv[1], "spawn") == 0) {
        int threads = atoi(argv[3]);
        per_thread = count / threads;
        pthread_t ids[64];
        double start = now();
        for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, spawner, NULL);
        for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
        printf("%.0f\n", per_thread * threads / (now() - start));
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
