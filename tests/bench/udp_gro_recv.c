/* udp_gro_recv: the offloaded C receiver make bench-iperf compares a1 with.
 *
 *   udp_gro_recv PORT
 *
 * Binds 127.0.0.1:PORT (0: a free port), prints "Listening on ADDR (udp)",
 * and serves one a1 test: after "START" it counts every byte until "STOP",
 * reading coalesced batches (UDP_GRO, 64 KiB per recvmsg) with the same
 * 4 MiB receive buffer as a1's server, and replies to STOP with a1's
 * sentence: "Throughput: X Kilobytes per second, received N bytes" (X over
 * the time from START to the last data). It only counts bytes: the kernel's
 * limit for a receiver.
 *
 * Compiled by tests/bench/iperf.sh with gcc; part of the benchmarks only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int on = 1, rcvbuf = 4 << 20;
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("udp_gro_recv: bind");
        return 1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) perror("udp_gro_recv: UDP_GRO");
    printf("Listening on 127.0.0.1:%d (udp)\n", ntohs(addr.sin_port));
    fflush(stdout);
    static char buffer[65536];
    struct sockaddr_in from;
    int started = 0;
    long long bytes = 0;
    double start = 0, last = 0;
    for (;;) {
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&from, &from_len);
        if (n < 0) continue;
        if (!started) {
            if (n == 5 && memcmp(buffer, "START", 5) == 0) {
                started = 1;
                start = last = now();
            }
            continue;
        }
        if (n == 4 && memcmp(buffer, "STOP", 4) == 0) break;
        bytes += n;
        last = now();
    }
    double seconds = last - start;
    char reply[256];
    int r = snprintf(reply, sizeof reply, "Throughput: %.3f Kilobytes per second, received %lld bytes",
                     seconds > 0 ? bytes / seconds / 1000.0 : 0.0, bytes);
    sendto(fd, reply, (size_t)r, 0, (struct sockaddr *)&from, sizeof from);
    printf("%s\n", reply);
    return 0;
}
