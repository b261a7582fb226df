// What Glibc does not expose to Swift: epoll, eventfd, signalfd, accept4,
// posix_spawn's closefrom.
// Header-only; every helper is static inline.
#ifndef VIMANA_LINUX_SHIM_H
#define VIMANA_LINUX_SHIM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <pthread.h>
#include <errno.h>
#include <malloc.h>
#include <spawn.h>

// Declared here because <sys/socket.h> hides it without _GNU_SOURCE, and
// defining _GNU_SOURCE makes this module's types clash with Glibc's.
int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// glibc 2.34's posix_spawn file action closing every descriptor >= from;
/// <spawn.h> hides it without _GNU_SOURCE, as above.
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/// Bytes the allocator has handed out (glibc mallinfo2).
static inline size_t vimana_heap_bytes(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static inline int vimana_errno(void) { return errno; }

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and threads it creates
/// afterwards) and returns a non-blocking signalfd that reports them.
static inline int vimana_signalfd_watched(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static inline void vimana_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

static inline int vimana_epoll_ctl(int epfd, int op, int fd, unsigned int events) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

static inline int vimana_event_fd(const struct epoll_event *events, int i) { return events[i].data.fd; }
static inline unsigned int vimana_event_mask(const struct epoll_event *events, int i) { return events[i].events; }

static inline int vimana_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
static inline int vimana_set_reuseaddr(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
}
#endif
