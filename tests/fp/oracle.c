/* Host-CPU oracle for the softfloat and FP-op tests: one SSE or x87 instruction run natively under a given
 * MXCSR / x87 control word, returning the result bits and the status (MXCSR, FSW or EFLAGS) it left.
 * Built by tests/fp/host.py with gcc at test time and loaded with ctypes. Every exception stays masked. */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

static inline uint32_t getcsr(void) { uint32_t m; __asm__ volatile("stmxcsr %0" : "=m"(m)); return m; }
static inline void setcsr(uint32_t m) { __asm__ volatile("ldmxcsr %0" : : "m"(m)); }

#define BIN(insn) __asm__ volatile(insn " %1, %0" : "+x"(x) : "x"(y))
#define FLAGS(insn, reg) __asm__ volatile(insn " %2, %1\n\tpushfq\n\tpopq %0" : "=r"(fl) : "x"(x), "x"(y) : "cc")

/* op: 0 add 1 sub 2 mul 3 div 4 sqrt 5 comi 6 ucomi 7 to-other-float 8 cvt2si32 9 cvtt2si32 10 cvt2si64
 * 11 cvtt2si64 12 si32-to 13 si64-to 14 round(imm 4: MXCSR.RC) 15 round(imm 12: no PE) 16 min 17 max.
 * sd selects binary64 (else binary32). Returns the MXCSR after the op; *out gets the result bits. */
uint32_t sse_op(int op, int sd, uint64_t a, uint64_t b, uint32_t csr, uint64_t *out)
{
    uint32_t old = getcsr(), after;
    __m128i xi = _mm_cvtsi64_si128((long long)a), yi = _mm_cvtsi64_si128((long long)b);
    __m128 x = _mm_castsi128_ps(xi), y = _mm_castsi128_ps(yi);
    uint64_t r = 0, fl = 0;
    int32_t i32 = 0; int64_t i64 = 0;
    setcsr(csr);
    if (sd) {
        switch (op) {
        case 0: BIN("addsd"); break;
        case 1: BIN("subsd"); break;
        case 2: BIN("mulsd"); break;
        case 3: BIN("divsd"); break;
        case 4: BIN("sqrtsd"); break;
        case 5: FLAGS("comisd", x); break;
        case 6: FLAGS("ucomisd", x); break;
        case 7: __asm__ volatile("cvtsd2ss %1, %0" : "+x"(x) : "x"(x)); break;
        case 8: __asm__ volatile("cvtsd2si %1, %0" : "=r"(i32) : "x"(x)); break;
        case 9: __asm__ volatile("cvttsd2si %1, %0" : "=r"(i32) : "x"(x)); break;
        case 10: __asm__ volatile("cvtsd2si %1, %0" : "=r"(i64) : "x"(x)); break;
        case 11: __asm__ volatile("cvttsd2si %1, %0" : "=r"(i64) : "x"(x)); break;
        case 12: __asm__ volatile("cvtsi2sdl %1, %0" : "+x"(x) : "r"((int32_t)a)); break;
        case 13: __asm__ volatile("cvtsi2sdq %1, %0" : "+x"(x) : "r"((int64_t)a)); break;
        case 14: __asm__ volatile("roundsd $4, %1, %0" : "+x"(x) : "x"(x)); break;
        case 15: __asm__ volatile("roundsd $12, %1, %0" : "+x"(x) : "x"(x)); break;
        case 16: BIN("minsd"); break;
        case 17: BIN("maxsd"); break;
        }
    } else {
        switch (op) {
        case 0: BIN("addss"); break;
        case 1: BIN("subss"); break;
        case 2: BIN("mulss"); break;
        case 3: BIN("divss"); break;
        case 4: BIN("sqrtss"); break;
        case 5: FLAGS("comiss", x); break;
        case 6: FLAGS("ucomiss", x); break;
        case 7: __asm__ volatile("cvtss2sd %1, %0" : "+x"(x) : "x"(x)); break;
        case 8: __asm__ volatile("cvtss2si %1, %0" : "=r"(i32) : "x"(x)); break;
        case 9: __asm__ volatile("cvttss2si %1, %0" : "=r"(i32) : "x"(x)); break;
        case 10: __asm__ volatile("cvtss2si %1, %0" : "=r"(i64) : "x"(x)); break;
        case 11: __asm__ volatile("cvttss2si %1, %0" : "=r"(i64) : "x"(x)); break;
        case 12: __asm__ volatile("cvtsi2ssl %1, %0" : "+x"(x) : "r"((int32_t)a)); break;
        case 13: __asm__ volatile("cvtsi2ssq %1, %0" : "+x"(x) : "r"((int64_t)a)); break;
        case 14: __asm__ volatile("roundss $4, %1, %0" : "+x"(x) : "x"(x)); break;
        case 15: __asm__ volatile("roundss $12, %1, %0" : "+x"(x) : "x"(x)); break;
        case 16: BIN("minss"); break;
        case 17: BIN("maxss"); break;
        }
    }
    after = getcsr();
    setcsr(old);
    if (op == 5 || op == 6) r = fl;
    else if (op == 8 || op == 9) r = (uint32_t)i32;
    else if (op == 10 || op == 11) r = (uint64_t)i64;
    else r = (uint64_t)_mm_cvtsi128_si64(_mm_castps_si128(x));
    *out = r;
    return after;
}

/* x87: st0 = a, st1 = b (80-bit images), control word cw; op: 0 add 1 sub 2 mul 3 div 4 sqrt 5 fcom 6 fucom
 * 7 frndint 8 fst m32 9 fst m64 10 fld m32 (a's low 4 bytes) 11 fld m64 12 fistp m16 13 fistp m32 14 fistp m64
 * 15 fisttp m64 16 fild m64 (a's low 8 bytes). *out gets 10 bytes (or the memory result); returns FSW
 * (with C3 C2 C0 from a compare). */
uint16_t x87_op(int op, const uint8_t *a, const uint8_t *b, uint16_t cw, uint8_t *out)
{
    uint16_t sw;
    memset(out, 0, 10);
    __asm__ volatile("fninit\n\tfldcw %0" : : "m"(cw));
    switch (op) {
    case 0: case 1: case 2: case 3: case 5: case 6:
        __asm__ volatile("fldt %0\n\tfldt %1" : : "m"(*(const uint8_t (*)[10])b), "m"(*(const uint8_t (*)[10])a));
        break;
    case 4: case 7: case 8: case 9: case 12: case 13: case 14: case 15:
        __asm__ volatile("fldt %0" : : "m"(*(const uint8_t (*)[10])a));
        break;
    }
    switch (op) {
    case 0: __asm__ volatile(".intel_syntax noprefix\n\tfadd st(0), st(1)\n\t.att_syntax"); break;
    case 1: __asm__ volatile(".intel_syntax noprefix\n\tfsub st(0), st(1)\n\t.att_syntax"); break;
    case 2: __asm__ volatile(".intel_syntax noprefix\n\tfmul st(0), st(1)\n\t.att_syntax"); break;
    case 3: __asm__ volatile(".intel_syntax noprefix\n\tfdiv st(0), st(1)\n\t.att_syntax"); break;
    case 4: __asm__ volatile("fsqrt"); break;
    case 5: __asm__ volatile("fcom %st(1)"); break;
    case 6: __asm__ volatile("fucom %st(1)"); break;
    case 7: __asm__ volatile("frndint"); break;
    case 8: __asm__ volatile("fstps %0" : "=m"(*(uint32_t *)out)); break;
    case 9: __asm__ volatile("fstpl %0" : "=m"(*(uint64_t *)out)); break;
    case 10: __asm__ volatile("flds %0" : : "m"(*(const uint32_t *)a)); break;
    case 11: __asm__ volatile("fldl %0" : : "m"(*(const uint64_t *)a)); break;
    case 12: __asm__ volatile("fistps %0" : "=m"(*(uint16_t *)out)); break;
    case 13: __asm__ volatile("fistpl %0" : "=m"(*(uint32_t *)out)); break;
    case 14: __asm__ volatile("fistpll %0" : "=m"(*(uint64_t *)out)); break;
    case 15: __asm__ volatile("fisttpll %0" : "=m"(*(uint64_t *)out)); break;
    case 16: __asm__ volatile("fildll %0" : : "m"(*(const uint64_t *)a)); break;
    }
    __asm__ volatile("fnstsw %0" : "=m"(sw));
    if (op <= 4 || op == 7 || op == 10 || op == 11 || op == 16)
        __asm__ volatile("fstpt %0" : "=m"(*(uint8_t (*)[10])out));
    __asm__ volatile("fninit");
    return sw;
}

/* The calling thread's MXCSR (what a Python helper runs under). */
uint32_t host_mxcsr(void) { return getcsr(); }

/* FXSAVE of the x87/SSE state made by FRSTOR of a 108-byte FNSAVE image (32-bit format) and LDMXCSR: the first
 * 160 bytes (control words, tags, pointers, MXCSR, MXCSR_MASK, ST0-ST7) go to out. */
void fxsave_from(const uint8_t *fnsave_image, uint32_t csr, uint8_t *out)
{
    static uint8_t area[512] __attribute__((aligned(64)));
    uint32_t old = getcsr();
    __asm__ volatile("frstor %0" : : "m"(*(const uint8_t (*)[108])fnsave_image));
    setcsr(csr);
    __asm__ volatile("fxsave %0" : "=m"(area));
    setcsr(old);
    __asm__ volatile("fninit");
    memcpy(out, area, 160);
}
