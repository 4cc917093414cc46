/* udp_blast: the plain C sendto loop make bench-iperf compares a1 with.
 *
 *   udp_blast IP PORT BYTES [LENGTH]
 *
 * Speaks a1's protocol to an a1 server: "START", BYTES of the seed's payload
 * pattern (byte i is 'a' + i % 26) in datagrams of LENGTH (1500) bytes, one
 * blocking sendto() each, then "STOP" every second until the server's reply,
 * which it prints. No pacing, no threads: the simplest fast sender.
 *
 * Compiled by tests/bench/iperf.sh with gcc; part of the benchmarks only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s IP PORT BYTES [LENGTH]\n", argv[0]);
        return 2;
    }
    long long total = atoll(argv[3]);
    int length = argc == 5 ? atoi(argv[4]) : 1500;
    if (total <= 0 || length < 1 || length > 65507) {
        fprintf(stderr, "udp_blast: bad BYTES or LENGTH\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        perror("udp_blast: socket");
        return 1;
    }
    /* Pattern bytes for every datagram start: offset o starts at o % 26. */
    char *pattern = malloc((size_t)length + 26);
    for (int i = 0; i < length + 26; i++) pattern[i] = (char)('a' + i % 26);
    sendto(fd, "START", 5, 0, (struct sockaddr *)&to, sizeof to);
    for (long long offset = 0; offset < total;) {
        long long left = total - offset;
        size_t len = left < length ? (size_t)left : (size_t)length;
        if (sendto(fd, pattern + offset % 26, len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
            if (errno == ENOBUFS || errno == EINTR || errno == ECONNREFUSED) continue;
            perror("udp_blast: sendto");
            return 1;
        }
        offset += (long long)len;
    }
    struct timeval second = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
    char reply[512];
    for (int tries = 0; tries < 30; tries++) {
        sendto(fd, "STOP", 4, 0, (struct sockaddr *)&to, sizeof to);
        ssize_t n = recv(fd, reply, sizeof reply - 1, 0);
        if (n > 0) {
            reply[n] = 0;
            printf("%s\n", reply);
            return 0;
        }
    }
    fprintf(stderr, "udp_blast: no reply to STOP\n");
    return 1;
}
