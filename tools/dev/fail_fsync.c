/*
 * fail_fsync.c: an LD_PRELOAD shim for the ledger's fsync-failure tests
 * (Tests/VimanaIntegrationTests/LedgerFaultTests.swift compiles and loads it).
 *
 * While the file named by $VIMANA_FAIL_FSYNC exists, fsync() and fdatasync()
 * on a ledger segment (a path ending in ".seg") fail with EIO, and first the
 * bytes written since that file's last successful fsync are overwritten with
 * zeros: what a kernel that dropped the dirty pages after a writeback error
 * would leave (fsyncgate: after a failed fsync the page cache cannot be
 * trusted). Every other call goes straight to the C library.
 *
 *   cc -shared -fPIC -O2 -o fail_fsync.so tools/dev/fail_fsync.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FDS 4096

/* Per descriptor: the file it was (inode) and its size at the last good fsync. */
static struct { ino_t ino; off_t good; int known; } files[MAX_FDS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The path behind fd in path[4096]; true when it is a ledger segment. */
static int is_segment(int fd, char *path) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, 4095);
    if (n < 4) return 0;
    path[n] = 0;
    return strcmp(path + n - 4, ".seg") == 0;
}

static int failing(void) {
    const char *flag = getenv("VIMANA_FAIL_FSYNC");
    return flag != NULL && access(flag, F_OK) == 0;
}

static int intercept(int fd, int (*real)(int)) {
    struct stat st;
    char path[4096];
    if (fd < 0 || fd >= MAX_FDS || !is_segment(fd, path) || fstat(fd, &st) != 0) return real(fd);
    pthread_mutex_lock(&lock);
    if (!files[fd].known || files[fd].ino != st.st_ino) {
        /* First seen: assume what is there now reached the disk. */
        files[fd].ino = st.st_ino;
        files[fd].good = st.st_size;
        files[fd].known = 1;
    }
    int rc;
    if (failing()) {
        /* A descriptor of its own: the caller's may be O_APPEND, where
         * pwrite ignores the offset. */
        static const char zeros[4096];
        int wfd = open(path, O_WRONLY | O_CLOEXEC);
        for (off_t at = files[fd].good; wfd >= 0 && at < st.st_size;) {
            size_t n = (size_t)(st.st_size - at) < sizeof zeros ? (size_t)(st.st_size - at) : sizeof zeros;
            ssize_t w = pwrite(wfd, zeros, n, at);
            if (w <= 0) break;
            at += w;
        }
        if (wfd >= 0) close(wfd);
        errno = EIO;
        rc = -1;
    } else {
        rc = real(fd);
        if (rc == 0 && fstat(fd, &st) == 0) files[fd].good = st.st_size;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return intercept(fd, real);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return intercept(fd, real);
}
