/* argv and the environment: argc and every argv string (with lengths, so empty and spaced arguments show), the
 * whole environment sorted, selected variables through getenv, setenv/unsetenv/putenv and their effect on environ,
 * the alignment of a 16-byte aligned local (gcc relies on the ABI's 16-byte stack alignment at _start), and the
 * exit status from main's return value (computed from the arguments). AT_* values and /proc/self are not printed:
 * they legitimately differ under an emulator. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void print_env(const char *label) {
    size_t n = 0;
    while (environ[n]) n++;
    char **copy = malloc((n + 1) * sizeof *copy);
    memcpy(copy, environ, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, by_str);
    printf("%s: %zu variables\n", label, n);
    for (size_t i = 0; i < n; i++) printf("  %s\n", copy[i]);
    free(copy);
}

int main(int argc, char **argv, char **envp) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d] (%zu) = [%s]\n", i, strlen(argv[i]), argv[i]);
    printf("argv[argc] is NULL: %d; envp follows argv: %d; envp == environ: %d\n", argv[argc] == NULL,
           envp == argv + argc + 1, envp == environ);
    print_env("initial environment");
    const char *names[] = {"PATH", "HOME", "DBT_TEST_MARK", "DBT_TEST_SPACES", "DBT_TEST_EMPTY", "NOT_SET_AT_ALL"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        printf("getenv(%s) = %s%s%s\n", names[i], v ? "[" : "", v ? v : "NULL", v ? "]" : "");
    }
    setenv("DBT_NEW", "fresh value", 0);
    setenv("DBT_TEST_MARK", "not replaced", 0);
    setenv("HOME", "/replaced", 1);
    unsetenv("DBT_TEST_EMPTY");
    static char put[] = "DBT_PUT=by putenv";
    putenv(put);
    print_env("after setenv/unsetenv/putenv");

    _Alignas(16) volatile char probe[16];
    uintptr_t at = (uintptr_t)probe;
    __asm__("" : "+r"(at));   /* hide the address from the optimizer, which knows it is aligned */
    printf("aligned local: address mod 16 = %d\n", (int)(at % 16));
    int status = argc;
    for (int i = 1; i < argc; i++) status = status * 7 + (int)strlen(argv[i]);
    printf("returning %d\n", status & 0xFF);
    return status & 0xFF;
}
