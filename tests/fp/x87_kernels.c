/* long double kernels that tests/fp/test_x87_gcc.py builds with gcc -O2 -mno-sse (all arithmetic on the x87) and runs
 * natively and in the emulator: the outputs must be identical. */
typedef long double LD;

void poly(const LD *in, LD *out, int n)
{
    for (int i = 0; i < n; i++) {
        LD x = in[i];
        out[i] = ((x * x - 3.0L) * x + 1.5L) / (x + 0.1L);
    }
}

void stats(const LD *in, LD *out, int n)
{
    LD s = 0, s2 = 0, mx = in[0], mn = in[0];
    for (int i = 0; i < n; i++) {
        LD x = in[i];
        s += x; s2 += x * x;
        if (x > mx) mx = x;
        if (x < mn) mn = x;
    }
    LD mean = s / n;
    out[0] = mean; out[1] = __builtin_sqrtl(s2 / n - mean * mean); out[2] = mx; out[3] = mn;
}

void convert(const LD *in, long long *iout, double *dout, float *fout, int n)
{
    for (int i = 0; i < n; i++) {
        iout[i] = (long long)in[i];
        dout[i] = (double)in[i];
        fout[i] = (float)(in[i] * 0.5L);
        iout[n + i] = (long long)__builtin_rintl(in[i]);
    }
}

void digits(LD x, char *buf, int n)
{
    /* printf-like decimal expansion of |x| < 1e18: integer part, then n fraction digits */
    if (x < 0) { *buf++ = '-'; x = -x; }
    long long ip = (long long)x;
    LD frac = x - ip;
    char tmp[24]; int k = 0;
    do { tmp[k++] = '0' + ip % 10; ip /= 10; } while (ip);
    while (k) *buf++ = tmp[--k];
    *buf++ = '.';
    for (int i = 0; i < n; i++) {
        frac *= 10;
        int d = (int)frac;
        *buf++ = '0' + d;
        frac -= d;
    }
    *buf = 0;
}
