/* Heap work: many allocations and frees of varying sizes (small bins, large chunks, mmap-sized blocks), realloc
 * growth and shrink, calloc zeroing, and a chained hash table of string keys that grows by rehashing. Prints
 * checksums of what it stored and read back. Exercises brk/mmap/munmap/mremap and glibc's allocator. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

struct entry { char *key; uint64_t value; struct entry *next; };
struct table { struct entry **slots; size_t nslots, count; };

static size_t slot_of(const struct table *t, const char *key) {
    return fnv(key, strlen(key), 0xCBF29CE484222325ull) & (t->nslots - 1);
}

static void grow(struct table *t) {
    struct table bigger = {calloc(t->nslots * 2, sizeof(struct entry *)), t->nslots * 2, t->count};
    for (size_t i = 0; i < t->nslots; i++)
        for (struct entry *e = t->slots[i], *next; e; e = next) {
            next = e->next;
            size_t s = slot_of(&bigger, e->key);
            e->next = bigger.slots[s];
            bigger.slots[s] = e;
        }
    free(t->slots);
    *t = bigger;
}

static void put(struct table *t, const char *key, uint64_t value) {
    size_t s = slot_of(t, key);
    for (struct entry *e = t->slots[s]; e; e = e->next)
        if (strcmp(e->key, key) == 0) { e->value += value; return; }
    struct entry *e = malloc(sizeof *e);
    e->key = strdup(key);
    e->value = value;
    e->next = t->slots[s];
    t->slots[s] = e;
    if (++t->count > t->nslots * 3 / 4) grow(t);
}

static struct entry *get(const struct table *t, const char *key) {
    for (struct entry *e = t->slots[slot_of(t, key)]; e; e = e->next)
        if (strcmp(e->key, key) == 0) return e;
    return NULL;
}

int main(void) {
    /* 1. A pool of live blocks, replaced at random: sizes from 1 byte to 260 KiB (beyond the mmap threshold). */
    enum { POOL = 512 };
    unsigned char *pool[POOL] = {0};
    size_t sizes[POOL] = {0};
    uint64_t sum = 0;
    for (int round = 0; round < 4000; round++) {
        size_t i = rng() % POOL;
        if (pool[i]) {
            sum = fnv(pool[i], sizes[i], sum);
            for (size_t k = 0; k < sizes[i]; k++)
                if (pool[i][k] != (unsigned char)(i + k)) { printf("corrupted block %zu\n", i); return 1; }
            free(pool[i]);
        }
        uint64_t r = rng();
        sizes[i] = (r % 64 == 0) ? 65536 + r % 200000 : (r % 4 == 0 ? 1 + r % 4000 : 1 + r % 200);
        pool[i] = malloc(sizes[i]);
        for (size_t k = 0; k < sizes[i]; k++) pool[i][k] = (unsigned char)(i + k);
    }
    for (int i = 0; i < POOL; i++) { sum = fnv(pool[i], sizes[i], sum); free(pool[i]); }
    printf("pool checksum %016llx\n", (unsigned long long)sum);

    /* 2. realloc growth from 1 byte to 1 MiB and back down, keeping the contents. */
    size_t n = 1;
    unsigned char *buf = malloc(n);
    buf[0] = 7;
    while (n < (1u << 20)) {
        size_t m = n * 3 / 2 + 1;
        buf = realloc(buf, m);
        for (size_t k = n; k < m; k++) buf[k] = (unsigned char)(k * 31 + 7);
        n = m;
    }
    uint64_t h = fnv(buf, n, 0);
    buf = realloc(buf, 1000);
    printf("realloc grew to %zu bytes: %016llx, shrunk head %016llx\n", n, (unsigned long long)h,
           (unsigned long long)fnv(buf, 1000, 0));
    free(buf);

    /* 3. calloc must return zeroed memory, also after the same sizes were freed dirty. */
    for (int round = 0; round < 3; round++) {
        size_t zeros = 0;
        for (size_t s = 8; s <= (1u << 18); s *= 4) {
            unsigned char *p = calloc(s, 1);
            for (size_t k = 0; k < s; k++) zeros += p[k] == 0;
            memset(p, 0xA5, s);
            free(p);
        }
        printf("calloc round %d: %zu zero bytes\n", round, zeros);
    }

    /* 4. A hash table: 20000 insertions of 8000 distinct keys, then lookups and a sorted-free summary. */
    struct table t = {calloc(8, sizeof(struct entry *)), 8, 0};
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "key-%llu", (unsigned long long)(rng() % 8000));
        put(&t, key, (uint64_t)i);
    }
    uint64_t found = 0, missing = 0, vsum = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        struct entry *e = get(&t, key);
        if (e) { found++; vsum += e->value; } else missing++;
    }
    size_t longest = 0;
    for (size_t i = 0; i < t.nslots; i++) {
        size_t len = 0;
        for (struct entry *e = t.slots[i], *next; e; e = next) { next = e->next; len++; free(e->key); free(e); }
        if (len > longest) longest = len;
    }
    free(t.slots);
    printf("table: %zu keys in %zu slots, found %llu missing %llu, value sum %llu, longest chain %zu\n", t.count,
           t.nslots, (unsigned long long)found, (unsigned long long)missing, (unsigned long long)vsum, longest);
    return 0;
}
