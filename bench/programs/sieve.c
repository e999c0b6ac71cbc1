/* Sieve of Eratosthenes over a byte array, repeated: counts primes below LIMIT. Memory-bound inner loop with a
 * variable stride. Prints the prime count and a checksum of the primes found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    long limit = argc > 1 ? atol(argv[1]) : 20000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 4;
    unsigned char *composite = malloc((size_t)limit);
    long count = 0;
    unsigned long long sum = 0;
    for (int r = 0; r < rounds; r++) {
        memset(composite, 0, (size_t)limit);
        count = 0;
        sum = 0;
        for (long i = 2; i < limit; i++) {
            if (composite[i]) continue;
            count++;
            sum = sum * 3 + (unsigned long long)i;
            for (long j = i * i; j < limit; j += i) composite[j] = 1;
        }
    }
    printf("primes below %ld: %ld\nchecksum: %016llx\n", limit, count, sum);
    free(composite);
    return 0;
}
