/* udp_gso_send: the offloaded C sender make bench-iperf compares a1 with.
 *
 *   udp_gso_send IP PORT LENGTH SECONDS
 *
 * Speaks a1's protocol: "START", then for SECONDS the seed's payload pattern
 * (byte i is 'a' + i % 26) in datagrams of LENGTH bytes, handed to the kernel
 * as batches of up to 64 datagrams (at most 65,000 bytes) per sendmsg() with
 * UDP_SEGMENT; then "STOP" every second until the reply, which it prints,
 * followed by "sent N bytes". No headers, no pacing: the kernel's limit.
 *
 * Compiled by tests/bench/iperf.sh with gcc; part of the benchmarks only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Sends len bytes from buf as datagrams of segment bytes in one call. */
static ssize_t send_segmented(int fd, const char *buf, size_t len, uint16_t segment) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    char control[CMSG_SPACE(sizeof(uint16_t))] = {0};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(cm), &segment, sizeof segment);
    return sendmsg(fd, &msg, 0);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s IP PORT LENGTH SECONDS\n", argv[0]);
        return 2;
    }
    int length = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (length < 1 || length > 65000 || seconds <= 0) {
        fprintf(stderr, "udp_gso_send: bad LENGTH or SECONDS\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("udp_gso_send: socket");
        return 1;
    }
    int count = 65000 / length > 64 ? 64 : 65000 / length;
    if (count < 1) count = 1;
    size_t batch = (size_t)count * (size_t)length;
    /* The payload is one continuous pattern, so a batch starting at offset o
     * is simply the pattern from o % 26. */
    char *pattern = malloc(batch + 26);
    for (size_t i = 0; i < batch + 26; i++) pattern[i] = (char)('a' + i % 26);
    send(fd, "START", 5, 0);
    long long offset = 0;
    double end = now() + seconds;
    while (now() < end) {
        if (send_segmented(fd, pattern + offset % 26, batch, (uint16_t)length) < 0) {
            if (errno == ENOBUFS || errno == EINTR || errno == ECONNREFUSED) continue;
            perror("udp_gso_send: sendmsg");
            return 1;
        }
        offset += (long long)batch;
    }
    struct timeval second = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
    char reply[512];
    for (int tries = 0; tries < 30; tries++) {
        send(fd, "STOP", 4, 0);
        ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
        if (n > 0) {
            reply[n] = 0;
            printf("%s\nsent %lld bytes\n", reply, offset);
            return 0;
        }
    }
    fprintf(stderr, "udp_gso_send: no reply to STOP\n");
    return 1;
}
