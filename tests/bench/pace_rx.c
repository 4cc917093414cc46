/* pace_rx: an external receiver that judges a sender's pacing by when its
 * datagrams arrive.
 *
 *   pace_rx BIND_IP COUNT PERIOD_US
 *
 * Binds BIND_IP on a free UDP port, prints "Listening on IP:PORT (udp)" and
 * takes the kernel's receive timestamp (SO_TIMESTAMPNS) of each of the first
 * COUNT data datagrams: anything but the control messages of a3 ping
 * ("C <size>", "exit") and a1 ("START", "STOP"). It answers like an a3 ping
 * server (calibration reply, "Packet Acknowledged N", "Stopping the Server.")
 * so a3-ping-client runs against it unchanged; a1 needs no answer.
 *
 * Once COUNT datagrams are in, it prints one line
 *   count=N p50_us=.. p99_us=.. max_us=.. drift_us=..
 * where, with t_k the k-th arrival and o_k = t_k - t_0 - k*PERIOD, the
 * schedule error of datagram k is o_k - min(o) (its lateness against the
 * best-kept tick) and the drift is the least o over the last tenth of the
 * datagrams minus the least o over the first tenth: how far the schedule
 * moved over the run. A re-based stall moves every later datagram, so it
 * shows; late datagrams that are caught up (or one stall inside a tenth)
 * leave the best-kept tick of each tenth where it was, so they do not. It then keeps
 * answering until "exit" or one more second, and exits. It gives up after
 * 120 s without data (exit status 1).
 *
 * Compiled by tests/bench/ping.sh with gcc; part of the benchmarks only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int starts(const char *buf, ssize_t len, const char *prefix) {
    size_t n = strlen(prefix);
    return (size_t)len >= n && memcmp(buf, prefix, n) == 0;
}

/* The sequence number after "Hello Server " or "Hello Server. ", or -1. */
static long probe_seq(const char *buf, ssize_t len) {
    char text[64];
    size_t n = (size_t)len < sizeof text - 1 ? (size_t)len : sizeof text - 1;
    memcpy(text, buf, n);
    text[n] = 0;
    const char *p = NULL;
    if (strncmp(text, "Hello Server. ", 14) == 0) p = text + 14;
    else if (strncmp(text, "Hello Server ", 13) == 0) p = text + 13;
    if (!p || *p < '0' || *p > '9') return -1;
    return strtol(p, NULL, 10);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BIND_IP COUNT PERIOD_US\n", argv[0]);
        return 2;
    }
    long count = atol(argv[2]);
    double period_ns = atof(argv[3]) * 1000.0;
    if (count < 2 || period_ns <= 0) {
        fprintf(stderr, "pace_rx: COUNT must be >= 2 and PERIOD_US > 0\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    int on = 1, rcvbuf = 4 << 20;
    if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("pace_rx: socket");
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    printf("Listening on %s:%d (udp)\n", argv[1], ntohs(addr.sin_port));
    fflush(stdout);

    int64_t *arrival = calloc((size_t)count, sizeof *arrival);
    long got = 0;
    int64_t deadline = now_ns() + 120LL * 1000000000; /* no data: give up */
    char buf[65536], reply[64];
    char control[CMSG_SPACE(sizeof(struct timespec))];
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0) continue;
        struct sockaddr_in peer;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov,
                             .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
        ssize_t len = recvmsg(fd, &msg, 0);
        if (len < 0) continue;
        int64_t at = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            }
        }
        const char *answer = NULL;
        long seq;
        if (starts(buf, len, "C ")) {
            answer = "Buffer Size Calibrated at Server.";
        } else if (len == 4 && starts(buf, len, "exit")) {
            answer = "Stopping the Server.";
        } else if ((len == 5 && starts(buf, len, "START")) || (len == 4 && starts(buf, len, "STOP"))) {
            /* a1 control: not timed, no answer */
        } else {
            if (got < count) {
                if (at < 0) {
                    fprintf(stderr, "pace_rx: no kernel timestamp\n");
                    return 1;
                }
                arrival[got++] = at;
                if (got == count) deadline = now_ns() + 1000000000LL;
                else deadline = now_ns() + 120LL * 1000000000;
            }
            if ((seq = probe_seq(buf, len)) >= 0) {
                snprintf(reply, sizeof reply, "Packet Acknowledged %ld", seq);
                answer = reply;
            }
        }
        if (answer)
            sendto(fd, answer, strlen(answer), 0, (struct sockaddr *)&peer, msg.msg_namelen);
        if (answer && strcmp(answer, "Stopping the Server.") == 0) break;
    }
    if (got < count) {
        fprintf(stderr, "pace_rx: only %ld of %ld datagrams arrived\n", got, count);
        return 1;
    }
    int64_t *offset = calloc((size_t)count, sizeof *offset);
    int64_t lowest = INT64_MAX;
    for (long k = 0; k < count; k++) {
        offset[k] = arrival[k] - arrival[0] - (int64_t)(k * period_ns);
        if (offset[k] < lowest) lowest = offset[k];
    }
    long tenth = count / 10 > 0 ? count / 10 : 1;
    int64_t head = INT64_MAX, tail = INT64_MAX;
    for (long k = 0; k < tenth; k++) {
        if (offset[k] < head) head = offset[k];
        if (offset[count - 1 - k] < tail) tail = offset[count - 1 - k];
    }
    int64_t drift = tail - head;
    for (long k = 0; k < count; k++) offset[k] -= lowest;
    qsort(offset, (size_t)count, sizeof *offset, cmp64);
    printf("count=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f drift_us=%.1f\n", count,
           offset[(count - 1) / 2] / 1e3, offset[(count * 99 + 99) / 100 - 1] / 1e3,
           offset[count - 1] / 1e3, drift / 1e3);
    return 0;
}
