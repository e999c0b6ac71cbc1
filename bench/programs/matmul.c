/* Dense matrix multiply in doubles (i-k-j loop order, so the inner loop streams rows: gcc -O2 vectorizes it with
 * SSE2 packed doubles), repeated with the result fed back. Prints the trace and a sum of the result. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 400;
    int rounds = argc > 2 ? atoi(argv[2]) : 16;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n), *c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            a[i * n + j] = ((i * 7 + j * 3) % 17 - 8) / 16.0;
            b[i * n + j] = ((i * 5 + j * 11) % 13 - 6) / 12.0 + (i == j);
        }
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n * n; i++) c[i] = 0.0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) {
                double aik = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
            }
        double norm = 0.0;
        for (int i = 0; i < n * n; i++) norm += c[i] * c[i];
        norm = 1.0 / (1.0 + norm / n);
        for (int i = 0; i < n * n; i++) a[i] = c[i] * norm;
    }
    double trace = 0.0, sum = 0.0;
    for (int i = 0; i < n; i++) trace += c[i * n + i];
    for (int i = 0; i < n * n; i++) sum += c[i] * ((i % 7) - 3);
    printf("n=%d rounds=%d\nchecksum: %.10e %.10e\n", n, rounds, trace, sum);
    free(a); free(b); free(c);
    return 0;
}
