/* pace_tx: the ideal pacer the benchmarks compare socklab's senders with.
 *
 *   pace_tx IP PORT COUNT PERIOD_US SIZE
 *
 * One thread: datagram k ("Hello Server k" padded with dots to SIZE bytes,
 * k from 1) is sent at start + (k-1)*PERIOD, reached with
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME); the payload is built
 * before the sleep, so nothing but send() follows the wake-up. Ends with
 * "exit" so pace_rx stops at once.
 *
 * Compiled by tests/bench/ping.sh with gcc; part of the benchmarks only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s IP PORT COUNT PERIOD_US SIZE\n", argv[0]);
        return 2;
    }
    long count = atol(argv[3]);
    long long period_ns = (long long)(atof(argv[4]) * 1000.0);
    int size = atoi(argv[5]);
    if (count < 1 || period_ns <= 0 || size < 1 || size > 65507) {
        fprintf(stderr, "pace_tx: bad COUNT, PERIOD_US or SIZE\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    if (fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        perror("pace_tx: socket");
        return 1;
    }
    char *buf = malloc((size_t)size + 64);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (long k = 1; k <= count; k++) {
        int len = snprintf(buf, 64, "Hello Server %ld", k);
        if (len < size) {
            memset(buf + len, '.', (size_t)(size - len));
            buf[len] = ' ';
            len = size;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
        }
        if (send(fd, buf, (size_t)len, 0) < 0) perror("pace_tx: send");
        next.tv_nsec += period_ns % 1000000000;
        next.tv_sec += period_ns / 1000000000 + next.tv_nsec / 1000000000;
        next.tv_nsec %= 1000000000;
    }
    send(fd, "exit", 4, 0);
    return 0;
}
