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
 * With $VIMANA_FSYNC_DELAY_MS set, every fsync of a segment first sleeps that
 * many milliseconds: a slow disk, on which the ledger's fsyncs follow one
 * another without a gap while appends keep coming.
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

#define MAX_FILES 256

/* Per file (device and inode, whatever descriptor is used: the server
 * fsyncs a dup of the segment's): its size at the last good fsync. */
static struct { dev_t dev; ino_t ino; off_t good; } files[MAX_FILES];
static int nfiles;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry for st's file, added (assuming what is there now reached the
 * disk) when first seen; the oldest is reused when the table is full. */
static off_t *good_size(const struct stat *st) {
    for (int i = 0; i < nfiles; i++)
        if (files[i].dev == st->st_dev && files[i].ino == st->st_ino) return &files[i].good;
    int i = nfiles < MAX_FILES ? nfiles++ : 0;
    files[i].dev = st->st_dev;
    files[i].ino = st->st_ino;
    files[i].good = st->st_size;
    return &files[i].good;
}

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

static void delay(void) {
    const char *ms = getenv("VIMANA_FSYNC_DELAY_MS");
    if (ms != NULL) usleep((useconds_t)atoi(ms) * 1000);
}

static int intercept(int fd, int (*real)(int)) {
    struct stat st;
    char path[4096];
    if (fd < 0 || !is_segment(fd, path) || fstat(fd, &st) != 0) return real(fd);
    delay();
    pthread_mutex_lock(&lock);
    off_t *good = good_size(&st);
    int rc;
    if (failing()) {
        /* A descriptor of its own: the caller's may be O_APPEND, where
         * pwrite ignores the offset. */
        static const char zeros[4096];
        int wfd = open(path, O_WRONLY | O_CLOEXEC);
        for (off_t at = *good; wfd >= 0 && at < st.st_size;) {
            size_t n = (size_t)(st.st_size - at) < sizeof zeros ? (size_t)(st.st_size - at) : sizeof zeros;
            ssize_t w = pwrite(wfd, zeros, n, at);
            if (w <= 0) break;
            at += w;
        }
        if (wfd >= 0) close(wfd);
        errno = EIO;
        rc = -1;
    } else {
        /* Only what was there when it began is sure to be covered. */
        rc = real(fd);
        if (rc == 0) *good = st.st_size;
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
