/* setjmp/longjmp: a jump out of deep recursion, nested jump buffers (an inner handler rethrowing to an outer one),
 * volatile locals modified between setjmp and longjmp, longjmp(env, 0) returning 1, and sigsetjmp/siglongjmp
 * restoring the signal mask. glibc mangles the saved stack and return addresses (PTR_MANGLE with the fs:0x30
 * guard), so this also checks the thread pointer. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>

static jmp_buf outer, inner;
static int depth_reached;

static unsigned long recurse(int depth, unsigned long acc) {
    volatile char pad[64];
    pad[depth % 64] = (char)depth;
    depth_reached = depth;
    if (depth == 1000) longjmp(outer, (int)(acc % 1000) + 1);
    return recurse(depth + 1, acc * 3 + (unsigned char)pad[depth % 64]) + 1;
}

static void thrower(int code) {
    if (code) longjmp(inner, code);
}

static int nested(int code) {
    volatile int tries = 0;
    int v = setjmp(inner);
    tries++;
    if (v == 0) {
        thrower(code);
        return 100 + tries;
    }
    if (v == 5) longjmp(outer, 50 + tries);   /* rethrow to the outer handler */
    return v * 10 + tries;
}

int main(void) {
    volatile int counter = 0;
    volatile double ratio = 1.0;
    int v = setjmp(outer);
    if (v == 0) {
        counter = 10;
        ratio = 2.5;
        recurse(0, 7);
        puts("not reached");
    }
    printf("recursion: setjmp returned %d at depth %d, counter=%d ratio=%g\n", v, depth_reached, counter, ratio);

    printf("nested(0) = %d\n", nested(0));
    printf("nested(3) = %d\n", nested(3));
    v = setjmp(outer);
    if (v == 0) {
        printf("nested(5) = %d (not reached)\n", nested(5));
    } else {
        printf("nested(5) rethrew to outer: %d\n", v);
    }

    volatile int round = 0;
    v = setjmp(outer);
    round++;
    if (round < 4) longjmp(outer, 0);         /* longjmp with 0 makes setjmp return 1 */
    printf("loop by longjmp: round=%d last value=%d\n", round, v);

    sigjmp_buf env;
    sigset_t set, now;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    volatile int phase = 0;
    if (sigsetjmp(env, 1) == 0) {
        phase = 1;
        sigprocmask(SIG_BLOCK, &set, NULL);
        sigprocmask(SIG_BLOCK, NULL, &now);
        printf("before siglongjmp: USR1 blocked=%d\n", sigismember(&now, SIGUSR1));
        siglongjmp(env, 1);
    }
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("after siglongjmp: phase=%d USR1 blocked=%d\n", phase, sigismember(&now, SIGUSR1));
    if (sigsetjmp(env, 0) == 0) {
        sigprocmask(SIG_BLOCK, &set, NULL);
        siglongjmp(env, 2);
    }
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("sigsetjmp(env, 0) keeps the mask: USR1 blocked=%d\n", sigismember(&now, SIGUSR1));
    return counter + round;
}
