/* A normal C program on the static glibc (printf, stdio files, malloc, qsort, environment, atexit, fork/waitpid,
   pipes, sigaction + siglongjmp): the process VM must run it like the host kernel does. No floating point. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf env;
static void on_segv(int sig) { siglongjmp(env, sig); }
static int cmp(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static void bye(void) { puts("atexit ran"); }

int main(int argc, char **argv) {
    atexit(bye);
    printf("argc=%d argv1=%s env=%s\n", argc, argc > 1 ? argv[1] : "-", getenv("DBT_TEST") ? getenv("DBT_TEST") : "-");
    int n = 1000, *v = malloc(n * sizeof *v);
    for (int i = 0; i < n; i++) v[i] = (i * 7919) % 1009;
    qsort(v, n, sizeof *v, cmp);
    printf("sorted %d %d %d\n", v[0], v[n / 2], v[n - 1]);
    char *big = malloc(1 << 20);
    memset(big, 'x', 1 << 20);
    printf("big %zu %ld\n", strlen(memchr(big, 'x', 10) ? "ok" : ""), strtol("-12345", NULL, 10));
    free(big);
    free(v);
    if (argc > 2) {
        FILE *f = fopen(argv[2], "w+");
        for (int i = 0; i < 100; i++) fprintf(f, "line %d\n", i);
        rewind(f);
        char line[64];
        int lines = 0;
        while (fgets(line, sizeof line, f)) lines++;
        printf("lines %d last %s", lines, line);
        fclose(f);
        unlink(argv[2]);
    }
    int p[2];
    pipe(p);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dprintf(p[1], "child %d says hi", 42);
        _exit(7);
    }
    close(p[1]);
    char buf[64] = {0};
    read(p[0], buf, sizeof buf - 1);
    int status;
    waitpid(pid, &status, 0);
    printf("%s, exit %d\n", buf, WEXITSTATUS(status));
    struct sigaction sa = {0};
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    int got = sigsetjmp(env, 1);
    if (!got) *(volatile int *)16 = 1;
    printf("recovered from signal %d\n", got);
    return 3;
}
