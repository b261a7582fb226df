/*
 * close_guard.c: an LD_PRELOAD shim `make test` runs the Swift tests under,
 * to catch a descriptor closed twice.
 *
 * A second close of a number is harmless only while nothing has reopened it;
 * otherwise it closes another thread's socket, pipe or file, and the failure
 * shows far away and rarely (a test's reader lost in 9,000, a Foundation
 * Process whose exit is never seen). The same bug closes a number nothing
 * holds far more often, and that close fails with EBADF: this shim records
 * each such close, with its stack, in $VIMANA_CLOSE_GUARD/<program>-<pid>.log,
 * and tools/dev/close-guard.sh fails the run when any was recorded.
 *
 * Only Vimana's own processes are watched: the test bundle (*.xctest) and
 * the `vimana` servers it starts. Shells close descriptors they never opened
 * on purpose. Without $VIMANA_CLOSE_GUARD every call goes straight through.
 *
 *   cc -shared -fPIC -O2 -o close_guard.so tools/dev/close_guard.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*real_close)(int);
/* -1 not yet decided, 0 off, 1 on; a race only decides twice, the same way. */
static int watching = -1;
static char program[64];

static int decide(void) {
    const char *dir = getenv("VIMANA_CLOSE_GUARD");
    if (!dir || !*dir) return 0;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = 0;
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    size_t length = strlen(base);
    int ours = strcmp(base, "vimana") == 0
        || (length > 7 && strcmp(base + length - 7, ".xctest") == 0);
    if (ours) snprintf(program, sizeof program, "%.63s", base);
    return ours;
}

static void record(int fd) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%d.log", getenv("VIMANA_CLOSE_GUARD"), program, (int)getpid());
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) return;
    char head[128];
    int n = snprintf(head, sizeof head, "close(%d) failed with EBADF (thread %ld); stack:\n",
                     fd, (long)syscall(SYS_gettid));
    if (write(out, head, (size_t)n) < 0) { /* nothing more to do */ }
    void *frames[40];
    int depth = backtrace(frames, 40);
    backtrace_symbols_fd(frames, depth, out);
    if (write(out, "\n", 1) < 0) { /* nothing more to do */ }
    real_close(out);
}

int close(int fd) {
    if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    int rc = real_close(fd);
    if (rc < 0 && errno == EBADF && fd >= 0) {
        int saved = errno;
        if (watching < 0) watching = decide();
        if (watching) record(fd);
        errno = saved;
    }
    return rc;
}
