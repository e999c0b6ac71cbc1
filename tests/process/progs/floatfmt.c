/* Float printing and parsing: printf %f %e %g %a at several precisions (including round-half-even cases), long
 * double with %Lf/%Le/%Lg/%La, strtod/strtold round trips and a few libm values. Exercises SSE2 scalar double
 * arithmetic, x87 (long double) and glibc's multi-precision printf. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double doubles[] = {   /* volatile: converted and printed at run time */
    0.0, -0.0, 1.0, -1.5, 0.1, 0.5, 1.5, 2.5, 0.125, 0.375, 1e-5, 123456.789, 1e21, 1e22, 1e-300, 5e-324,
    2.2250738585072014e-308, 1.7976931348623157e308, 3.14159265358979323846, 2.718281828459045, 1.0 / 3.0,
    0.30000000000000004, 9.995, 1.005, 2.675, 1234567890123456789.0, -987.654321,
};

static void print_double(double d) {
    static const char *fmts[] = {"%f", "%.0f", "%.1f", "%.2f", "%.3f", "%.10f", "%e", "%.0e", "%.3e", "%.15e",
                                 "%g", "%.1g", "%.4g", "%.17g", "%a", "%.3a", "%+12.4f", "%-12.3e|", "%012.5g"};
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        printf(fmts[i], d);
        putchar(i + 1 < sizeof fmts / sizeof *fmts ? ' ' : '\n');
    }
}

static void roundtrip_double(double d) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    double back = strtod(buf, NULL);
    printf("rt %s %s\n", buf, memcmp(&back, &d, sizeof d) == 0 ? "exact" : "DIFFERS");
}

int main(void) {
    size_t n = sizeof doubles / sizeof *doubles;
    for (size_t i = 0; i < n; i++) print_double(doubles[i]);
    for (size_t i = 0; i < n; i++) roundtrip_double(doubles[i]);
    printf("inf %f %e %g nan %f %g\n", INFINITY, -INFINITY, INFINITY, NAN, -NAN);

    static volatile float floats[] = {0.1f, 1.0f / 3.0f, 16777217.0f, 3.4028235e38f, 1.17549435e-38f, 1e-45f};
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        char *end;
        char buf[48];
        snprintf(buf, sizeof buf, "%.9g", floats[i]);
        float back = strtof(buf, &end);
        printf("float %.9g %a %f back=%s\n", floats[i], floats[i], floats[i], back == floats[i] ? "same" : "DIFF");
    }

    static volatile long double lds[] = {1.0L / 3.0L, 3.14159265358979323846264338327950288L, 1e4000L, 1e-4000L, -0.1L,
                         18446744073709551615.0L, 0.5L + 1e-19L};
    for (size_t i = 0; i < sizeof lds / sizeof *lds; i++)
        printf("ld %Lf %.20Lf %Le %.25Le %Lg %.21Lg %La\n", lds[i], lds[i], lds[i], lds[i], lds[i], lds[i], lds[i]);
    long double third = strtold("0.333333333333333333333333333", NULL);
    printf("strtold %.21Lg %s\n", third, third == 1.0L / 3.0L ? "== 1/3" : "!= 1/3");
    long double sum = 0;
    for (int i = 1; i <= 1000; i++) sum += 1.0L / ((long double)i * i);
    printf("ld basel %.18Lg\n", sum);

    const char *parse[] = {"0x1.8p3", "1e-320", "  -42.5e2xyz", "infinity", "1.7976931348623159e308", "4.9e-324",
                           "0.1e1000000", "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof parse / sizeof *parse; i++) {
        char *end;
        double v = strtod(parse[i], &end);
        printf("strtod(%s) = %.17g %a rest=\"%s\"\n", parse[i], v, v, end);
    }

    static volatile double xs[] = {0.0, 0.5, 1.0, 2.0, 10.0, -3.75, 100.25};
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
        double x = xs[i];
        printf("libm x=%g sqrt=%.17g floor=%g ceil=%g pow=%.17g exp=%.17g log=%.17g sin=%.17g fmod=%.17g\n", x,
               sqrt(fabs(x)), floor(x), ceil(x), pow(1.5, x), exp(x), log(fabs(x) + 1.0), sin(x), fmod(x, 0.7));
    }
    /* Accumulated double arithmetic, printed exactly. */
    double acc = 0.0, prod = 1.0;
    for (int i = 1; i <= 200; i++) {
        acc += 1.0 / i;
        prod *= 1.0 + 1.0 / (i * 7.0);
    }
    printf("harmonic %.17g %a product %.17g\n", acc, acc, prod);
    return 0;
}
