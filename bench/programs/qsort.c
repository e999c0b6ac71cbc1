/* glibc qsort of integers and of fixed-size records with a two-key comparison function: indirect calls into the
 * program from libc's merge sort, memcpy of elements. Prints checksums of the sorted orders. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec { uint32_t key; uint32_t tie; char name[8]; };

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_rec(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    if (x->key % 1000 != y->key % 1000) return x->key % 1000 < y->key % 1000 ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return memcmp(x->name, y->name, sizeof x->name);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    uint32_t *v = malloc(n * sizeof *v);
    struct rec *r = malloc(n / 2 * sizeof *r);
    uint64_t x = 0x2545F4914F6CDD1Dull, check = 0;
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; v[i] = (uint32_t)x; }
        qsort(v, n, sizeof *v, cmp_u32);
        for (size_t i = 0; i < n; i += 97) check = check * 31 + v[i];
        for (size_t i = 0; i < n / 2; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            r[i].key = (uint32_t)x;
            r[i].tie = (uint32_t)(x >> 40) % 50;
            snprintf(r[i].name, sizeof r[i].name, "%07u", (unsigned)(x >> 20) % 10000000u);
        }
        qsort(r, n / 2, sizeof *r, cmp_rec);
        for (size_t i = 0; i < n / 2; i += 101) check = check * 31 + r[i].key + r[i].tie + (uint64_t)r[i].name[6];
    }
    printf("sorted %zu ints and %zu records x %d\nchecksum: %016llx\n", n, n / 2, rounds, (unsigned long long)check);
    free(v); free(r);
    return 0;
}
