/* fork + pipe + wait: a parent and a child exchange data both ways through two pipes (the child transforms what it
 * reads), several children work in parallel on slices of a computation and return their results through one
 * shared pipe and their exit codes, reaped with waitpid in a fixed order; a pipe whose reader is gone gives EPIPE
 * (SIGPIPE ignored); an exit code travels through two generations. Only fork: no other program is run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) { perror("write"); exit(3); }
        p += w;
        n -= (size_t)w;
    }
}

static size_t read_all(int fd, void *buf, size_t cap) {
    size_t got = 0;
    ssize_t r;
    while (got < cap && (r = read(fd, (char *)buf + got, cap - got)) > 0) got += (size_t)r;
    return got;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* 1. Round trip: parent -> child (upper-cases, counts) -> parent, 200 KiB so the pipes fill and block. */
    int down[2], up[2];
    if (pipe(down) || pipe(up)) { perror("pipe"); return 1; }
    enum { SIZE = 200 * 1024 };
    pid_t pid = fork();
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        static char buf[4096];
        ssize_t r;
        unsigned long letters = 0;
        while ((r = read(down[0], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] >= 'a' && buf[i] <= 'z') { buf[i] -= 32; letters++; }
            write_all(up[1], buf, (size_t)r);
        }
        close(up[1]);
        _exit((int)(letters % 251));
    }
    close(down[0]);
    close(up[1]);
    static char out[SIZE], back[SIZE];
    for (int i = 0; i < SIZE; i++) out[i] = "abcdefghij0123456789 xyz\n"[i % 25];
    /* Write in a second child so the parent can read at the same time (no deadlock on full pipes). */
    pid_t writer = fork();
    if (writer == 0) {
        close(up[0]);
        write_all(down[1], out, SIZE);
        _exit(0);
    }
    close(down[1]);
    size_t got = read_all(up[0], back, SIZE);
    close(up[0]);
    unsigned long upper = 0, sum = 0;
    for (size_t i = 0; i < got; i++) { upper += back[i] >= 'A' && back[i] <= 'Z'; sum = sum * 31 + (unsigned char)back[i]; }
    int status;
    waitpid(writer, &status, 0);
    printf("writer exited %d\n", WEXITSTATUS(status));
    waitpid(pid, &status, 0);
    printf("round trip: %zu bytes back, %lu upper-case, hash %lx; child exit code %d (letters mod 251)\n", got, upper,
           sum, WEXITSTATUS(status));

    /* 2. Several children, each sums a slice and reports "index sum" lines through one pipe. */
    int results[2];
    pipe(results);
    enum { KIDS = 5 };
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(results[0]);
            unsigned long long s = 0;
            for (unsigned long long v = k * 100000ull; v < (k + 1) * 100000ull; v++) s += v * v % 1000003;
            char line[64];
            int n = snprintf(line, sizeof line, "%d %llu\n", k, s);
            write_all(results[1], line, (size_t)n);   /* < PIPE_BUF: atomic */
            _exit(10 + k);
        }
    }
    close(results[1]);
    char all[1024];
    size_t n = read_all(results[0], all, sizeof all - 1);
    all[n] = 0;
    close(results[0]);
    unsigned long long sums[KIDS] = {0};
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        int k;
        unsigned long long s;
        if (sscanf(line, "%d %llu", &k, &s) == 2 && k >= 0 && k < KIDS) sums[k] = s;
    }
    for (int k = KIDS - 1; k >= 0; k--) {
        waitpid(kids[k], &status, 0);
        printf("child %d: sum %llu, exit code %d\n", k, sums[k], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    int none = (int)waitpid(-1, &status, 0);
    printf("no more children: waitpid -> %d (%s)\n", none, strerror(errno));

    /* 3. Writing to a pipe without readers: EPIPE when SIGPIPE is ignored. */
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    pipe(p);
    close(p[0]);
    errno = 0;
    ssize_t w = write(p[1], "x", 1);
    printf("write to a closed pipe: %zd (%s)\n", w, strerror(errno));
    close(p[1]);

    /* 4. A child's exit code carried through two generations. */
    pid = fork();
    if (pid == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0) _exit(21);
        waitpid(grandchild, &status, 0);
        _exit(WEXITSTATUS(status) * 2);
    }
    waitpid(pid, &status, 0);
    printf("grandchild's code doubled: %d\n", WEXITSTATUS(status));
    return 0;
}
