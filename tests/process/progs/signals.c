/* Signals: a SIGSEGV handler installed with SA_SIGINFO (write to an unmapped address -> SEGV_MAPERR, to a read-only
 * page -> SEGV_ACCERR, si_addr checked) that siglongjmps back; SIGFPE from integer division by zero (FPE_INTDIV);
 * raise(SIGUSR1) with a handler; a blocked SIGUSR2 left pending and delivered on unblock; SIG_IGN; and children
 * that die from signals (SIGSEGV without a handler, SIGKILL, abort) with the status seen through waitpid.
 * With argument "die" the process itself ends by an uncaught SIGSEGV (exit status 128 + 11 in a shell).
 * Children that die from a signal first point their stderr to /dev/null: qemu-user prints a line there when a
 * guest dies from a signal, which is not part of the program's behaviour. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile sig_atomic_t last_signo, last_code, addr_ok, usr1_count, usr2_count;
static void *expected_addr;

static void on_fault(int signo, siginfo_t *info, void *uctx) {
    (void)uctx;
    last_signo = signo;
    last_code = info->si_code;
    addr_ok = info->si_addr == expected_addr;
    siglongjmp(back, 1);
}

static void on_usr(int signo, siginfo_t *info, void *uctx) {
    (void)uctx;
    if (signo == SIGUSR1) usr1_count++;
    else usr2_count++;
    last_code = info->si_code;
}

static void quiet_stderr(void) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 2);
    close(fd);
}

static void report_child(const char *what, pid_t pid) {
    int status;
    if (waitpid(pid, &status, 0) != pid) { printf("%s: waitpid failed\n", what); return; }
    if (WIFSIGNALED(status)) printf("%s: killed by signal %d (%s)\n", what, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status)) printf("%s: exited with %d\n", what, WEXITSTATUS(status));
    else printf("%s: status %#x\n", what, status);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);   /* no buffered output duplicated into forked children */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);

    /* 1. Write to an unmapped address: the middle page of three, unmapped, so it is known not to be mapped (and
     * no later mapping larger than a page can land there). */
    char *three = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *page = three + 4096;
    munmap(page, 4096);
    expected_addr = page + 123;
    if (sigsetjmp(back, 1) == 0) {
        *(volatile char *)(page + 123) = 1;
        puts("unmapped write did not fault");
    }
    printf("unmapped write: signo=%d code=%d (SEGV_MAPERR=%d) addr_ok=%d\n", last_signo, last_code, SEGV_MAPERR,
           addr_ok);

    /* 2. Write to a read-only page: the mapping exists, so SEGV_ACCERR; reading it works. */
    char *ro = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ro[4096 + 8] = 42;
    mprotect(ro + 4096, 4096, PROT_READ);
    expected_addr = ro + 4096 + 8;
    last_signo = 0;
    if (sigsetjmp(back, 1) == 0) {
        printf("read-only page reads %d\n", *(volatile char *)(ro + 4096 + 8));
        *(volatile char *)(ro + 4096 + 8) = 7;
        puts("read-only write did not fault");
    }
    printf("read-only write: signo=%d code=%d (SEGV_ACCERR=%d) addr_ok=%d value still %d\n", last_signo, last_code,
           SEGV_ACCERR, addr_ok, ro[4096 + 8]);

    /* 3. Repeated faults: the handler's mask is restored by siglongjmp each time. */
    int faults = 0;
    for (int i = 0; i < 5; i++) {
        expected_addr = page + i * 64;
        if (sigsetjmp(back, 1) == 0) *(volatile int *)(page + i * 64) = i;
        else faults += addr_ok;
    }
    printf("five faults in a row, addresses right: %d\n", faults);

    /* 4. Integer division by zero. */
    volatile int zero = 0, num = 1234;
    last_signo = 0;
    if (sigsetjmp(back, 1) == 0) {
        printf("quotient %d\n", num / zero);
    }
    printf("division by zero: signo=%d code=%d (FPE_INTDIV=%d)\n", last_signo, last_code, FPE_INTDIV);

    /* 5. raise(SIGUSR1) with a handler; SIGUSR2 blocked, pending, then delivered on unblock. */
    sa.sa_sigaction = on_usr;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR1);
    raise(SIGUSR1);
    printf("SIGUSR1 handled %d times, si_code=%d (SI_TKILL=%d)\n", usr1_count, last_code, SI_TKILL);
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    kill(getpid(), SIGUSR2);
    sigpending(&pending);
    printf("SIGUSR2 blocked: pending=%d handled=%d\n", sigismember(&pending, SIGUSR2), usr2_count);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("SIGUSR2 unblocked: handled=%d si_code=%d (SI_USER=%d)\n", usr2_count, last_code, SI_USER);
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored SIGUSR1: count still %d\n", usr1_count);

    /* 6. Children dying from signals. */
    pid_t pid = fork();
    if (pid == 0) {
        quiet_stderr();
        signal(SIGSEGV, SIG_DFL);
        *(volatile int *)page = 1;
        _exit(0);
    }
    report_child("child writing to an unmapped page", pid);
    pid = fork();
    if (pid == 0) {
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    report_child("child sending itself SIGKILL", pid);
    pid = fork();
    if (pid == 0) {
        quiet_stderr();
        abort();
    }
    report_child("child calling abort", pid);
    pid = fork();
    if (pid == 0) _exit(77);
    report_child("child calling _exit(77)", pid);

    if (argc > 1 && strcmp(argv[1], "die") == 0) {
        puts("now dying from SIGSEGV");
        quiet_stderr();
        signal(SIGSEGV, SIG_DFL);
        *(volatile int *)page = 1;
    }
    return 0;
}
