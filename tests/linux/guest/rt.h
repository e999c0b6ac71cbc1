/* A minimal freestanding runtime for test guests: raw x86-64 Linux system calls, no SSE, no libc.
   Built with: gcc -O2 -static -nostdlib -fno-builtin -mgeneral-regs-only -fno-stack-protector */
typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;

static inline i64 sc6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
    i64 r;
    register i64 r10 __asm__("r10") = d;
    register i64 r8 __asm__("r8") = e;
    register i64 r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
#define SC(n, ...) sc_n(n, __VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define sc_n(n, a, b, c, d, e, f, ...) sc6(n, (i64)(a), (i64)(b), (i64)(c), (i64)(d), (i64)(e), (i64)(f))
#define SC0(n) sc6(n, 0, 0, 0, 0, 0, 0)

static u64 slen(const char *s) { u64 n = 0; while (s[n]) n++; return n; }
static int seq(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return *a == *b; }
static void mcpy(void *d, const void *s, u64 n) { char *dd = d; const char *ss = s; while (n--) *dd++ = *ss++; }
static void mset(void *d, int v, u64 n) { char *dd = d; while (n--) *dd++ = v; }

static char obuf[4096];
static u64 olen;
static void flush(void) { if (olen) SC(1, 1, obuf, olen); olen = 0; }
static void ps(const char *s) { while (*s) { if (olen == sizeof obuf) flush(); obuf[olen++] = *s++; } }
static void pn(i64 v) {
    char b[24]; int i = 23; b[i] = 0; int neg = v < 0; u64 u = neg ? -(u64)v : (u64)v;
    do { b[--i] = '0' + u % 10; u /= 10; } while (u);
    if (neg) b[--i] = '-';
    ps(b + i);
}
static void px(u64 v) { char b[20]; int i = 19; b[i] = 0; do { b[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v); ps("0x"); ps(b + i); }
static void kv(const char *k, i64 v) { ps(k); ps("="); pn(v); ps("\n"); }
static void ks(const char *k, const char *v) { ps(k); ps("="); ps(v); ps("\n"); }
void exit_(int code) { flush(); SC(231, code); for (;;) {} }
u64 initial_sp;

/* struct sigaction as the kernel takes it */
struct ksigaction { u64 handler, flags, restorer, mask; };
#define SA_SIGINFO 4
#define SA_ONSTACK 0x08000000
#define SA_RESTORER 0x04000000
#define SA_NODEFER 0x40000000
#define SA_RESETHAND 0x80000000
extern void restorer(void);
__asm__(".text\n.globl restorer\nrestorer: mov $15, %eax\n syscall\n hlt\n");
static i64 sigaction_(int sig, void *fn, u64 flags, u64 mask) {
    struct ksigaction a = { (u64)fn, flags | SA_RESTORER, (u64)restorer, mask };
    return SC(13, sig, &a, 0, 8);
}
struct siginfo_ { int signo, err, code, pad; union { u64 addr; struct { int pid; u32 uid; } k; }; };
/* ucontext: uc_flags, uc_link, stack_t (24), then gregs[23] */
#define GREG(uc, i) (((u64 *)((char *)(uc) + 40))[i])
enum { REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RDI, REG_RSI, REG_RBP,
       REG_RBX, REG_RDX, REG_RAX, REG_RCX, REG_RSP, REG_RIP, REG_EFL, REG_CSGSFS, REG_ERR, REG_TRAPNO,
       REG_OLDMASK, REG_CR2 };

int cmain(long argc, char **argv, char **envp, u64 *auxv);
__asm__(".text\n.globl _start\n_start:\n xor %ebp, %ebp\n mov (%rsp), %rdi\n lea 8(%rsp), %rsi\n"
        " lea 8(%rsi,%rdi,8), %rdx\n mov %rdx, %rcx\n1: cmpq $0, (%rcx)\n lea 8(%rcx), %rcx\n jne 1b\n"
        " mov %rsp, initial_sp(%rip)\n and $-16, %rsp\n call cmain\n mov %eax, %edi\n call exit_\n hlt\n");
