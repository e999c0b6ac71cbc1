/* qsort and the string functions on many sizes and alignments: glibc picks SSE2 (or wider) implementations of
 * strlen, memcpy, memcmp, strchr... through IFUNCs, and their tails, page-crossing and alignment paths differ by
 * length and offset. Each result is compared with a byte-by-byte reference written here, and summarized. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t seed = 12345;
static uint32_t rnd(void) { return seed = seed * 1103515245u + 12345u; }

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct rec { char name[12]; int age; double score; };
static int cmp_rec(const void *a, const void *b) {
    const struct rec *x = a, *y = b;
    if (x->age != y->age) return x->age - y->age;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

static size_t ref_strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
static int sign(int v) { return (v > 0) - (v < 0); }
static int ref_memcmp(const unsigned char *a, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++) if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static unsigned errors, checks;
#define CHECK(cond, ...) do { checks++; if (!(cond)) { errors++; if (errors < 20) printf(__VA_ARGS__); } } while (0)

int main(void) {
    /* qsort: ints, strings and structs. */
    enum { N = 3000 };
    static int ints[N];
    long long weighted = 0;
    for (int i = 0; i < N; i++) ints[i] = (int)(rnd() % 100000) - 50000;
    qsort(ints, N, sizeof *ints, cmp_int);
    int sorted = 1;
    for (int i = 0; i < N; i++) { weighted += (long long)ints[i] * (i + 1); if (i && ints[i - 1] > ints[i]) sorted = 0; }
    printf("qsort ints: sorted=%d min=%d max=%d weighted=%lld\n", sorted, ints[0], ints[N - 1], weighted);

    static char words[500][16];
    static char *ptrs[500];
    for (int i = 0; i < 500; i++) {
        int len = 1 + rnd() % 12;
        for (int k = 0; k < len; k++) words[i][k] = 'a' + rnd() % 6;
        words[i][len] = 0;
        ptrs[i] = words[i];
    }
    qsort(ptrs, 500, sizeof *ptrs, cmp_str);
    printf("qsort strings: first=%s second=%s median=%s last=%s\n", ptrs[0], ptrs[1], ptrs[250], ptrs[499]);

    static struct rec recs[200];
    for (int i = 0; i < 200; i++) {
        snprintf(recs[i].name, sizeof recs[i].name, "n%03u", rnd() % 1000);
        recs[i].age = 20 + rnd() % 10;
        recs[i].score = (rnd() % 1000) / 8.0;
    }
    qsort(recs, 200, sizeof *recs, cmp_rec);
    for (int i = 0; i < 200; i += 40)
        printf("rec[%d] = %s %d %.3f\n", i, recs[i].name, recs[i].age, recs[i].score);

    /* Buffers with guard space on both sides, so every length and offset stays in bounds. */
    enum { MAXLEN = 300, PAD = 64 };
    static unsigned char a[MAXLEN + 2 * PAD], b[MAXLEN + 2 * PAD], c[MAXLEN + 2 * PAD];
    for (size_t len = 0; len <= MAXLEN; len += (len < 70 ? 1 : 7)) {
        for (size_t off = 0; off < 16; off++) {
            char *s = (char *)a + PAD + off;
            for (size_t i = 0; i < MAXLEN + 2 * PAD; i++) a[i] = 'A' + (i * 7 + len) % 26;
            s[len] = 0;
            CHECK(strlen(s) == len, "strlen len=%zu off=%zu\n", len, off);
            CHECK(ref_strlen(s) == len, "ref\n");
            /* strchr/strrchr: a character present (at most twice) and one absent. */
            if (len) {
                char want = s[len / 2];
                char *first = NULL, *last = NULL;
                for (size_t i = 0; i < len; i++) if (s[i] == want) { if (!first) first = s + i; last = s + i; }
                CHECK(strchr(s, want) == first, "strchr len=%zu off=%zu\n", len, off);
                CHECK(strrchr(s, want) == last, "strrchr len=%zu off=%zu\n", len, off);
            }
            CHECK(strchr(s, '#') == NULL, "strchr absent len=%zu\n", len);
            CHECK(strchr(s, 0) == s + len, "strchr nul len=%zu\n", len);
            /* memcpy / memmove (both overlap directions) / memset against byte loops. */
            memset(b, 0x55, sizeof b);
            memcpy(b + PAD + (15 - off), s, len);
            CHECK(ref_memcmp(b + PAD + (15 - off), (unsigned char *)s, len) == 0 && b[PAD + 15 - off + len] == 0x55,
                  "memcpy len=%zu off=%zu\n", len, off);
            memcpy(c, a, sizeof a);
            memmove(c + PAD + off, c + PAD, len);
            CHECK(ref_memcmp(c + PAD + off, a + PAD, len) == 0, "memmove up len=%zu off=%zu\n", len, off);
            memcpy(c, a, sizeof a);
            memmove(c + PAD, c + PAD + off, len);
            CHECK(ref_memcmp(c + PAD, a + PAD + off, len) == 0, "memmove down len=%zu off=%zu\n", len, off);
            memset(c + PAD + off, (int)(len & 0xFF), len);
            size_t ok = 0;
            for (size_t i = 0; i < len; i++) ok += c[PAD + off + i] == (unsigned char)len;
            CHECK(ok == len && c[PAD + off + len] == a[PAD + off + len], "memset len=%zu off=%zu\n", len, off);
            /* memcmp / strcmp / strncmp with one difference at every position class. */
            memcpy(b + PAD + off, s, len + 1);
            char *t = (char *)b + PAD + off;
            CHECK(memcmp(s, t, len) == 0 && strcmp(s, t) == 0 && strncmp(s, t, len + 5) == 0, "equal len=%zu\n", len);
            if (len) {
                size_t pos = (len * 5 + off) % len;
                t[pos] = (char)(t[pos] + (off & 1 ? 1 : -1) + (t[pos] == 'A' ? 2 : 0));
                int want = sign(ref_memcmp((unsigned char *)s, (unsigned char *)t, len));
                CHECK(sign(memcmp(s, t, len)) == want, "memcmp len=%zu off=%zu\n", len, off);
                CHECK(sign(strcmp(s, t)) == want, "strcmp len=%zu off=%zu\n", len, off);
                CHECK(sign(strncmp(s, t, pos + 1)) == want && strncmp(s, t, pos) == 0, "strncmp len=%zu\n", len);
                CHECK(memcmp(s, t, pos) == 0, "memcmp prefix len=%zu\n", len);
            }
            /* strstr: the tail of the string is found at its own position (or earlier if it repeats). */
            if (len >= 4) {
                const char *needle = s + len - 4;
                char *hit = strstr(s, needle);
                const char *ref = NULL;
                for (size_t i = 0; i + 4 <= len && !ref; i++) if (memcmp(s + i, needle, 4) == 0) ref = s + i;
                CHECK(hit == ref, "strstr len=%zu off=%zu\n", len, off);
            }
        }
    }
    printf("string checks: %u, errors: %u\n", checks, errors);

    /* strtok and snprintf truncation. */
    char line[] = "alpha, beta;;gamma , delta,,epsilon;zeta";
    int count = 0;
    for (char *tok = strtok(line, ",; "); tok; tok = strtok(NULL, ",; ")) printf("tok[%d]=%s\n", count++, tok);
    char small[10];
    for (int size = 0; size <= 10; size += 3) {
        memset(small, '*', sizeof small);
        int n = snprintf(small, (size_t)size, "%s-%05d-%x", "abc", 42, 0xBEEF);
        printf("snprintf size=%d returned %d buffer=%.10s\n", size, n, size ? small : "-");
    }
    char big[200];
    int n = snprintf(big, sizeof big, "[%-8s|%8s|%08.3f|%+d|%llx|%c|%%|%5.2s]", "left", "right", 3.14159, 17,
                     0xFEEDFACECAFEull, 'Z', "truncated");
    printf("%d %s\n", n, big);
    return errors != 0;
}
