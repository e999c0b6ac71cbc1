/* Test guest for the process VM: each argv[1] selects a case; the output is compared with the same program run
   natively (only facts that do not depend on addresses, pids or timing are printed). */
#include "rt.h"

extern char __ehdr_start[];
extern void _start(void);

static int seq_prefix(const char *s, const char *pre) { while (*pre && *s == *pre) { s++; pre++; } return !*pre; }
static u64 aux(u64 *auxv, u64 type) { for (; auxv[0]; auxv += 2) if (auxv[0] == type) return auxv[1]; return ~0UL; }

static int case_args(long argc, char **argv, char **envp, u64 *auxv) {
    kv("argc", argc);
    for (int i = 0; i < argc; i++) ks("argv", argv[i]);
    for (char **e = envp; *e; e++) ks("env", *e);
    kv("sp%16", initial_sp % 16);
    kv("argv_at_sp+8", (u64)argv == initial_sp + 8);
    static const u64 same[] = {6, 4, 5, 8, 11, 12, 13, 14, 17, 23};
    for (unsigned i = 0; i < sizeof same / sizeof same[0]; i++) { ps("aux"); pn(same[i]); kv("", aux(auxv, same[i])); }
    kv("AT_BASE_set", aux(auxv, 7) != 0);
    ks("AT_PLATFORM", (char *)aux(auxv, 15));
    ks("AT_EXECFN", (char *)aux(auxv, 31));
    kv("AT_ENTRY_is_start", aux(auxv, 9) == (u64)_start);
    u64 phoff = *(u64 *)(__ehdr_start + 32);
    kv("AT_PHDR_is_phdrs", aux(auxv, 3) == (u64)__ehdr_start + phoff);
    u64 r = aux(auxv, 25);
    kv("AT_RANDOM_above_sp", r > initial_sp);
    kv("AT_SYSINFO_EHDR_absent_or_mapped", 1);
    /* strings lie above the vector, in order */
    kv("strings_above_auxv", (u64)argv[0] > (u64)auxv);
    kv("execfn_at_top", aux(auxv, 31) > (u64)envp[0] || !envp[0]);
    return 3;
}

static void show(const char *what, i64 r) { ps(what); ps(" -> "); pn(r); ps("\n"); }

struct dirent64 { u64 ino; i64 off; unsigned short reclen; unsigned char type; char name[]; };

static int case_files(long argc, char **argv) {
    show("chdir", SC(80, argv[2]));
    char cwd[512];
    i64 n = SC(79, cwd, sizeof cwd);
    show("getcwd_len_ok", n == (i64)slen(argv[2]) + 1 && seq(cwd, argv[2]));
    int fd = SC(257, -100, "a.txt", 0101 | 01000 | 02000000, 0644);   /* O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC */
    show("open_ok", fd >= 3);
    show("fcntl_getfd", SC(72, fd, 1, 0));
    show("write", SC(1, fd, "hello, world\n", 13));
    struct { const char *b; u64 n; } iov[2] = {{"abc", 3}, {"defg", 4}};
    show("writev", SC(20, fd, iov, 2));
    show("pwrite", SC(18, fd, "XY", 2, 0));
    show("close", SC(3, fd));
    show("close_again", SC(3, fd));
    fd = SC(2, "a.txt", 2, 0);                                         /* O_RDWR */
    char buf[64];
    mset(buf, 0, sizeof buf);
    show("read", SC(0, fd, buf, 5));
    ks("data", buf);
    show("lseek_end", SC(8, fd, 0, 2));
    show("lseek_set", SC(8, fd, 7, 0));
    char b1[3] = {0}, b2[5] = {0};
    struct { char *b; u64 n; } riov[2] = {{b1, 2}, {b2, 4}};
    show("readv", SC(19, fd, riov, 2));
    ks("b1", b1); ks("b2", b2);
    mset(buf, 0, sizeof buf);
    show("pread", SC(17, fd, buf, 4, 13));
    ks("pdata", buf);
    u64 st[18];
    show("fstat", SC(5, fd, st));
    kv("st_size", st[6]);
    kv("st_mode_fmt", (st[3] & 0xffffffff) >> 12);
    kv("st_mode_perm", st[3] & 0777);
    show("ftruncate", SC(77, fd, 4));
    show("stat", SC(4, "a.txt", st));
    kv("st_size2", st[6]);
    show("newfstatat", SC(262, -100, "a.txt", st, 0));
    kv("st_nlink", st[2]);
    i64 times[4] = {1000, 0, 2000, 5};
    show("utimensat", SC(280, -100, "a.txt", times, 0));
    SC(4, "a.txt", st);
    kv("atime", st[9]); kv("mtime", st[11]); kv("mtime_ns", st[12]);
    i64 omit[4] = {0, (1 << 30) - 2, 3000, 0};                        /* UTIME_OMIT for atime */
    show("utimensat_omit", SC(280, -100, "a.txt", omit, 0));
    SC(4, "a.txt", st);
    kv("atime_kept", st[9]); kv("mtime2", st[11]);
    show("futimens_now", SC(280, fd, 0, 0, 0));
    SC(5, fd, st);
    kv("mtime_now", st[11] > 1000000000);
    show("stat_missing", SC(4, "nope", st));
    show("access_ok", SC(21, "a.txt", 4));
    show("access_missing", SC(21, "nope", 0));
    show("mkdir", SC(83, "d", 0755));
    show("mkdir_again", SC(83, "d", 0755));
    show("rename", SC(82, "a.txt", "d/b.txt"));
    show("symlink", SC(88, "d/b.txt", "lnk"));
    mset(buf, 0, sizeof buf);
    show("readlink", SC(89, "lnk", buf, sizeof buf));
    ks("target", buf);
    show("lstat", SC(6, "lnk", st));
    kv("lstat_fmt", (st[3] & 0xffffffff) >> 12);
    int dfd = SC(257, -100, ".", 0200000 | 02000000, 0);                 /* O_DIRECTORY */
    char dbuf[1024];
    int names = 0, sawd = 0, sawlnk = 0;
    for (;;) {
        i64 got = SC(217, dfd, dbuf, sizeof dbuf);
        if (got <= 0) { show("getdents_end", got); break; }
        for (i64 off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(dbuf + off);
            names++;
            if (seq(d->name, "d")) sawd = d->type;
            if (seq(d->name, "lnk")) sawlnk = d->type;
            off += d->reclen;
        }
    }
    kv("dir_entries", names); kv("type_d", sawd); kv("type_lnk", sawlnk);
    show("close_dir", SC(3, dfd));
    show("unlinkat_dir_notempty", SC(263, -100, "d", 0x200));
    show("unlink", SC(87, "lnk"));
    show("unlink_file", SC(87, "d/b.txt"));
    show("rmdir", SC(84, "d"));
    int p[2];
    show("pipe2", SC(293, p, 0));
    show("pipe_write", SC(1, p[1], "pipe!", 5));
    i64 avail = 0;
    show("fionread", SC(16, p[0], 0x541B, &avail));
    kv("avail", (int)avail);
    mset(buf, 0, sizeof buf);
    show("pipe_read", SC(0, p[0], buf, sizeof buf));
    ks("pipe_data", buf);
    int nfd = SC(33, p[1], 100);
    show("dup2", nfd);
    show("fcntl_getfl_wr", SC(72, nfd, 3, 0) & 3);
    show("dup3_cloexec", SC(292, p[0], 101, 02000000));
    show("getfd_101", SC(72, 101, 1, 0));
    show("ioctl_tcgets_pipe", SC(16, p[0], 0x5401, buf));
    show("bad_fd_write", SC(1, 999, "x", 1));
    show("efault_write", SC(1, 1, (void *)16, 4));
    SC(1, p[1], "more", 4);
    show("efault_read", SC(0, p[0], (void *)16, 4));
    show("umask", SC(95, 022));
    show("umask2", SC(95, 022));
    return 0;
}

static int case_mem(void) {
    u64 pg = 4096;
    char *a = (char *)SC(9, 0, 4 * pg, 3, 0x22, -1, 0);               /* PROT_RW, MAP_PRIVATE|MAP_ANON */
    show("mmap_ok", (u64)a < (u64)-4096 && (u64)a % pg == 0);
    int zero = 1;
    for (u64 i = 0; i < 4 * pg; i++) if (a[i]) zero = 0;
    kv("zeroed", zero);
    for (u64 i = 0; i < 4 * pg; i++) a[i] = (char)(i * 7);
    show("munmap_middle", SC(11, a + pg, pg));
    show("mprotect_hole", SC(10, a + pg, pg, 1));
    char *f = (char *)SC(9, a + pg, pg, 3, 0x32, -1, 0);              /* MAP_FIXED into the hole */
    show("fixed_same", f == a + pg);
    kv("fixed_zero", f[5]);
    kv("kept", a[3 * pg + 1] == (char)((3 * pg + 1) * 7));
    show("mprotect_ro", SC(10, a, pg, 1));
    show("mprotect_bad_align", SC(10, a + 1, pg, 1));
    char *b = (char *)SC(25, a + 2 * pg, 2 * pg, 16 * pg, 1, 0);     /* mremap MAYMOVE */
    show("mremap_ok", (u64)b < (u64)-4096);
    kv("mremap_kept", b[pg + 9] == (char)((3 * pg + 9) * 7));
    b[15 * pg] = 1;
    kv("mremap_grown", b[15 * pg]);
    show("mremap_shrink", SC(25, b, 16 * pg, pg, 0, 0) == (i64)b);
    show("munmap_b", SC(11, b, pg));
    show("munmap_bad", SC(11, a + 1, pg));
    char *bad = (char *)SC(9, 0, pg, 3, 0x22 | 0x10, -1, 0x10);      /* offset not used for anon, addr 0 fixed */
    show("mmap_zero_fixed_err", (i64)bad < 0 && (i64)bad > -4096);
    show("mmap_einval_len0", SC(9, 0, 0, 3, 0x22, -1, 0));
    u64 b0 = SC(12, 0);
    show("brk0_ok", b0 > 0);
    u64 b1 = SC(12, b0 + 3 * pg + 5);
    show("brk_grow", b1 == b0 + 3 * pg + 5);
    char *h = (char *)b0;
    for (u64 i = 0; i < 3 * pg; i++) h[i] = 1;
    show("brk_shrink", SC(12, b0 + 8) == (i64)(b0 + 8));
    show("brk_below_start", SC(12, 4096) == (i64)(b0 + 8));
    /* file mappings: private copies of the file's pages from the offset on, zero past the end of the file */
    int fd = SC(2, "/proc/self/exe", 0, 0);
    show("exe_open", fd >= 0);
    char *img = (char *)SC(9, 0, 2 * pg, 1, 2, fd, 0);                /* PROT_READ, MAP_PRIVATE */
    kv("elf_magic", img[0] == 0x7f && img[1] == 'E' && img[2] == 'L' && img[3] == 'F');
    char page1[64];
    SC(17, fd, page1, sizeof page1, pg);
    char *off = (char *)SC(9, 0, pg, 3, 2, fd, pg);                   /* offset one page, writable copy */
    int same = 1;
    for (int i = 0; i < 64; i++) if (off[i] != page1[i]) same = 0;
    kv("offset_map_same", same);
    off[0] ^= 1;
    char again[1];
    SC(17, fd, again, 1, pg);
    kv("private_write_not_in_file", again[0] == page1[0]);
    show("bad_offset", SC(9, 0, pg, 1, 2, fd, 100));
    show("bad_fd", SC(9, 0, pg, 1, 2, 999, 0));
    SC(3, fd);
    return 0;
}

static int case_fork(char **argv) {
    int p[2];
    SC(22, p);
    i64 pid = SC0(57);
    if (pid == 0) {
        SC(3, p[0]);
        SC(1, p[1], "from child", 10);
        exit_(5);
    }
    show("fork_ok", pid > 0);
    SC(3, p[1]);
    char buf[32]; mset(buf, 0, sizeof buf);
    show("read", SC(0, p[0], buf, sizeof buf));
    ks("msg", buf);
    int status = 0;
    show("wait4_pid", SC(61, pid, &status, 0, 0) == pid);
    kv("exited", (status & 0x7f) == 0);
    kv("status", (status >> 8) & 0xff);
    pid = SC0(57);
    if (pid == 0) { SC(62, SC0(39), 15); for (;;) {} }
    SC(61, pid, &status, 0, 0);
    kv("signaled", ((status & 0x7f) + 1) >> 1 > 0 && (status & 0x7f) != 0x7f);
    kv("termsig", status & 0x7f);
    flush();
    pid = SC0(58);                    /* vfork: the child only exits (it shares the parent's memory natively) */
    if (pid == 0) SC(60, 9);
    SC(61, pid, &status, 0, 0);
    kv("vfork_status", (status >> 8) & 0xff);
    show("wait_nochild", SC(61, -1, &status, 0, 0));
    show("wnohang_nochild", SC(61, -1, &status, 1, 0));
    return 0;
}

static int case_exec(char **argv) {
    char *nargv[] = {argv[0], "args", "from", "exec", 0};
    char *nenv[] = {"EXECED=1", 0};
    show("exec_missing", SC(59, "/nonexistent/prog", nargv, nenv));
    show("exec_notexec", SC(59, "/etc/passwd", nargv, nenv));
    flush();
    SC(59, argv[0], nargv, nenv);
    ps("exec failed\n");
    return 1;
}

static int case_execscript(char **argv) {
    char *nargv[] = {argv[2], "x", 0};
    char *nenv[] = {"SCRIPTED=1", 0};
    flush();
    show("execve_script", SC(59, argv[2], nargv, nenv));
    return 1;
}

static volatile u64 good = 0x1234;
static volatile int hits;
static u64 saw_addr, saw_code, saw_signo, saw_trapno, saw_rip;

static void on_segv(int sig, struct siginfo_ *si, void *uc) {
    hits++;
    saw_signo = si->signo; saw_code = si->code; saw_addr = si->addr;
    saw_trapno = GREG(uc, REG_TRAPNO);
    GREG(uc, REG_RBX) = (u64)&good;                           /* retry with a valid pointer */
}

extern char div_insn[], ud2_insn[], int3_insn[];

static void on_fpe(int sig, struct siginfo_ *si, void *uc) {
    hits++; saw_signo = si->signo; saw_code = si->code; saw_addr = si->addr; saw_trapno = GREG(uc, REG_TRAPNO);
    saw_rip = GREG(uc, REG_RIP);
    GREG(uc, REG_RCX) = 7;
}

static void on_ill(int sig, struct siginfo_ *si, void *uc) {
    hits++; saw_signo = si->signo; saw_code = si->code; saw_addr = si->addr; saw_rip = GREG(uc, REG_RIP);
    saw_trapno = GREG(uc, REG_TRAPNO);
    GREG(uc, REG_RIP) += 2;
}

static void on_trap(int sig, struct siginfo_ *si, void *uc) {
    hits++; saw_signo = si->signo; saw_code = si->code; saw_rip = GREG(uc, REG_RIP);
    saw_trapno = GREG(uc, REG_TRAPNO);
}

static u64 usr_pid, usr_code, usr_uid_ok, onalt;
static char altstack[16384];

static void on_usr(int sig, struct siginfo_ *si, void *uc) {
    char local;
    hits++; usr_pid = si->k.pid; usr_code = si->code;
    usr_uid_ok = si->k.uid == (u32)SC0(102);
    onalt = (u64)&local >= (u64)altstack && (u64)&local < (u64)altstack + sizeof altstack;
    u64 mask = 0;
    SC(14, 0, 0, &mask, 8);
    kv("in_handler_masked", (mask >> (sig - 1)) & 1);
}

static int case_signals(void) {
    show("sigaction_segv", sigaction_(11, on_segv, SA_SIGINFO, 0));
    u64 v;
    __asm__ volatile("mov (%%rbx), %0" : "=r"(v) : "b"(0x1000UL) : "memory");
    kv("segv_hits", hits); kv("segv_signo", saw_signo); kv("segv_code", saw_code);
    kv("segv_addr_ok", saw_addr == 0x1000); kv("segv_trapno", saw_trapno); kv("loaded", v == 0x1234);
    /* write to a read-only page: SEGV_ACCERR */
    static volatile u64 ro;
    ro = SC(9, 0, 4096, 1, 0x22, -1, 0);
    u64 rbx_after;
    __asm__ volatile("movb $1, (%%rbx)" : "=b"(rbx_after) : "b"(ro) : "memory");
    kv("accerr_code", saw_code); kv("accerr_addr_ok", saw_addr == ro);
    hits = 0;
    show("sigaction_fpe", sigaction_(8, on_fpe, SA_SIGINFO, 0));
    u64 q, r;
    __asm__ volatile("xor %%edx, %%edx\n div_insn: div %%rcx" : "=a"(q), "=d"(r) : "a"(50UL), "c"(0UL));
    kv("fpe_hits", hits); kv("fpe_signo", saw_signo); kv("fpe_code", saw_code);
    kv("fpe_addr_ok", saw_addr == (u64)div_insn); kv("fpe_rip_ok", saw_rip == (u64)div_insn);
    kv("fpe_trapno", saw_trapno); kv("quotient", q); kv("remainder", r);
    hits = 0;
    show("sigaction_ill", sigaction_(4, on_ill, SA_SIGINFO, 0));
    __asm__ volatile("ud2_insn: ud2");
    kv("ill_hits", hits); kv("ill_signo", saw_signo); kv("ill_code", saw_code);
    kv("ill_addr_ok", saw_addr == (u64)ud2_insn); kv("ill_trapno", saw_trapno);
    hits = 0;
    show("sigaction_trap", sigaction_(5, on_trap, SA_SIGINFO, 0));
    __asm__ volatile("int3_insn: int3");
    kv("trap_hits", hits); kv("trap_signo", saw_signo); kv("trap_code", saw_code);
    kv("trap_rip_after", saw_rip == (u64)int3_insn + 1); kv("trap_trapno", saw_trapno);
    hits = 0;
    struct { u64 sp; int flags; int pad; u64 size; } ss = {(u64)altstack, 0, 0, sizeof altstack}, old;
    show("sigaltstack", SC(131, &ss, &old));
    kv("old_disabled", old.flags);
    show("sigaction_usr1", sigaction_(10, on_usr, SA_SIGINFO | SA_ONSTACK, 0));
    show("kill_self", SC(62, SC0(39), 10));
    kv("usr_hits", hits); kv("usr_code", usr_code); kv("usr_pid_ok", usr_pid == (u64)SC0(39));
    kv("usr_uid_ok", usr_uid_ok); kv("on_altstack", onalt);
    u64 set = 1UL << 9, oldset = 0, pend = 0;
    show("block_usr1", SC(14, 0, &set, &oldset, 8));
    show("tgkill_self", SC(234, SC0(39), SC0(186), 10));
    kv("blocked_hits", hits);
    show("sigpending", SC(127, &pend, 8));
    kv("pending_usr1", (pend >> 9) & 1);
    show("unblock_usr1", SC(14, 1, &set, 0, 8));
    kv("unblocked_hits", hits); kv("tkill_code", usr_code);
    struct ksigaction ign = {1, 0, 0, 0};
    show("sigaction_ign", SC(13, 10, &ign, 0, 8));
    show("kill_ignored", SC(62, SC0(39), 10));
    kv("ignored_hits", hits);
    struct ksigaction oa;
    show("sigaction_query", SC(13, 8, 0, &oa, 8));
    kv("query_handler_ok", oa.handler == (u64)on_fpe); kv("query_flags", oa.flags & ~(u64)SA_RESTORER);
    show("sigaction_kill", SC(13, 9, &ign, 0, 8));
    show("sigaction_badsize", SC(13, 10, 0, 0, 4));
    return 0;
}

static int case_die(char **argv) {
    if (seq(argv[2], "term")) { flush(); SC(62, SC0(39), 15); }
    if (seq(argv[2], "segv")) { flush(); *(volatile int *)8 = 1; }
    if (seq(argv[2], "abort")) {
        u64 set = 1UL << 5;
        flush();
        SC(14, 0, &set, 0, 8);          /* blocked... */
        __asm__ volatile("ud2");       /* ...and a synchronous SIGILL still kills */
    }
    if (seq(argv[2], "pipe")) {
        int p[2];
        SC(22, p);
        SC(3, p[0]);
        flush();
        SC(1, p[1], "x", 1);                 /* no reader: SIGPIPE, default action */
    }
    if (seq(argv[2], "fpe")) { flush(); volatile u64 z = 0; kv("q", 5 / z); }
    return 1;
}

static int case_tls(void) {
    static u64 tls[4] = {11, 22, 33, 44};
    show("arch_prctl_set", SC(158, 0x1002, &tls[0]));
    u64 v, base;
    __asm__ volatile("mov %%fs:8, %0" : "=r"(v));
    kv("fs8", v);
    __asm__ volatile("movq $99, %%fs:16" ::: "memory");
    kv("tls2", tls[2]);
    show("arch_prctl_get", SC(158, 0x1003, &base));
    kv("get_ok", base == (u64)&tls[0]);
    u64 idx = 3;
    __asm__ volatile("mov %%fs:(,%1,8), %0" : "=r"(v) : "r"(idx));
    kv("fs_indexed", v);
    static u64 gs_area[2] = {5, 6};
    show("arch_prctl_set_gs", SC(158, 0x1001, &gs_area[0]));
    __asm__ volatile("mov %%gs:8, %0" : "=r"(v));
    kv("gs8", v);
    __asm__ volatile("addq $10, %%gs:0" ::: "memory");
    kv("gs_area0", gs_area[0]);
    show("arch_prctl_get_gs", SC(158, 0x1004, &base));
    kv("get_gs_ok", base == (u64)&gs_area[0]);
    show("arch_prctl_bad", SC(158, 0x9999, 0));
    return 0;
}

static int case_misc(void) {
    char u[6 * 65];
    show("uname", SC(63, u));
    ks("sysname", u); ks("machine", u + 4 * 65);
    char r[16];
    show("getrandom", SC(318, r, 16, 0));
    u64 rl[2];
    show("getrlimit_nofile", SC(97, 7, rl));
    show("prlimit64", SC(302, 0, 7, 0, rl));
    show("getpid_is_tid", SC0(39) == SC0(186));
    show("getppid_pos", SC0(110) > 0);
    u64 si[14];
    show("sysinfo", SC(99, si));
    kv("mem_unit", (u32)si[13]);
    u64 ts[2], ts2[2];
    show("clock_gettime", SC(228, 1, ts));
    u64 req[2] = {0, 20 * 1000 * 1000};
    show("nanosleep", SC(35, req, 0));
    SC(228, 1, ts2);
    u64 dt = (ts2[0] - ts[0]) * 1000000000UL + ts2[1] - ts[1];
    kv("slept_enough", dt >= 20 * 1000 * 1000);
    show("clock_getres", SC(229, 1, ts));
    u64 tv[2];
    show("gettimeofday", SC(96, tv, 0));
    i64 t = SC(201, 0);
    kv("time_close", t - (i64)tv[0] <= 1 && t >= (i64)tv[0]);
    show("sched_yield", SC0(24));
    int futex = 5;
    show("futex_wait_differs", SC(202, &futex, 128, 4, 0, 0, 0));
    show("futex_wake", SC(202, &futex, 129, 1, 0, 0, 0));
    u64 mask[16];
    show("affinity_pos", SC(204, 0, sizeof mask, mask) > 0);
    show("set_tid_address_is_pid", SC(218, &futex) == SC0(39));
    show("getuid_is_euid", SC0(102) == SC0(107));
    struct { int fd; short ev, rev; } pfd = {0, 0, 0};
    int p[2];
    SC(22, p);
    pfd.fd = p[0]; pfd.ev = 1;
    show("poll_empty", SC(7, &pfd, 1, 0));
    SC(1, p[1], "x", 1);
    show("poll_ready", SC(7, &pfd, 1, 100));
    kv("revents", pfd.rev);
    u64 rd = 1UL << p[0];
    u64 tvz[2] = {0, 0};
    show("select_ready", SC(23, p[0] + 1, &rd, 0, 0, tvz));
    kv("rd_bit", (rd >> p[0]) & 1);
    return 0;
}

static int case_sysregs(void) {
    u64 rcx, r11, next, flags;
    __asm__ volatile("lea 1f(%%rip), %%rsi\n pushf\n pop %%rdi\n mov $39, %%eax\n syscall\n1:\n"
                     " mov %%rcx, %0\n mov %%r11, %1\n mov %%rsi, %2\n mov %%rdi, %3\n"
                     : "=m"(rcx), "=m"(r11), "=m"(next), "=m"(flags) : : "rax", "rcx", "r11", "rsi", "rdi", "memory");
    kv("rcx_is_next_rip", rcx == next);
    kv("r11_is_rflags", r11 == flags);
    u64 after;
    __asm__ volatile("stc\n mov $39, %%eax\n syscall\n pushf\n pop %0" : "=r"(after) : : "rax", "rcx", "r11", "memory");
    kv("flags_kept_cf", after & 1);
    u64 ssp = 0;
    __asm__ volatile("endbr64\n rdsspq %0\n endbr32" : "+r"(ssp));   /* no CET: NOPs (hint space) */
    kv("rdssp_without_shadow_stack", ssp);
    return 0;
}

static volatile int host_hits;
static void on_host(int sig, struct siginfo_ *si, void *uc) { host_hits++; usr_code = si->code; usr_pid = si->signo; }

static int case_hostsig(void) {
    /* a signal from another process while the guest spins in a tight loop (no system calls) */
    show("sigaction_usr2", sigaction_(12, on_host, SA_SIGINFO, 0));
    ps("ready\n");
    flush();
    u64 spins = 0;
    while (!host_hits && spins < (1UL << 40)) spins++;
    kv("host_hits", host_hits); kv("host_signo", usr_pid); kv("host_code", usr_code);
    return 0;
}

static u64 hex(const char **p) { u64 v = 0; for (;; (*p)++) { char c = **p; if (c >= '0' && c <= '9') v = v * 16 + c - '0'; else if (c >= 'a' && c <= 'f') v = v * 16 + c - 'a' + 10; else return v; } }

static int case_maps(void) {
    /* /proc/self/maps: the lines holding the stack, the code and a fresh mapping, with their permissions */
    static char text[65536];
    int fd = SC(2, "/proc/self/maps", 0, 0);
    show("open", fd >= 0);
    i64 n = 0, got;
    while ((got = SC(0, fd, text + n, sizeof text - 1 - n)) > 0) n += got;
    SC(3, fd);
    text[n] = 0;
    char local = 0;
    char *m = (char *)SC(9, 0, 3 * 4096, 1, 0x22, -1, 0);
    SC(10, m + 4096, 4096, 3);
    fd = SC(2, "/proc/self/maps", 0, 0);
    n = 0;
    while ((got = SC(0, fd, text + n, sizeof text - 1 - n)) > 0) n += got;
    text[n] = 0;
    const u64 want[] = {(u64)&local, (u64)_start, (u64)m, (u64)m + 4096, (u64)m + 8192};
    const char *names[] = {"stack", "code", "map0", "map1", "map2"};
    for (int i = 0; i < 5; i++) {
        const char *p = text;
        while (*p) {
            u64 lo = hex(&p); p++; u64 hi = hex(&p); p++;
            if (lo <= want[i] && want[i] < hi) {
                ps(names[i]); ps(" "); char perms[5] = {p[0], p[1], p[2], p[3], 0}; ps(perms);
                int stack = 0; for (const char *q = p; *q && *q != '\n'; q++) if (seq_prefix(q, "[stack]")) stack = 1;
                kv(" stack_named", stack);
            }
            while (*p && *p != '\n') p++;
            if (*p) p++;
        }
    }
    return 0;
}

static int wake_pipe[2];
static void on_host_write(int sig, struct siginfo_ *si, void *uc) { host_hits++; SC(1, wake_pipe[1], "w", 1); }

static int case_hostsig_read(char **argv) {
    /* a host signal while read() blocks: EINTR without SA_RESTART, the call restarted with it */
    int restart = seq(argv[2], "restart");
    SC(22, wake_pipe);
    show("sigaction_usr2", sigaction_(12, on_host_write, SA_SIGINFO | (restart ? 0x10000000 : 0), 0));
    ps("ready\n");
    flush();
    char buf[8] = {0};
    show("read", SC(0, wake_pipe[0], buf, sizeof buf - 1));
    ks("buf", buf);
    kv("host_hits", host_hits);
    return 0;
}

static volatile int chld_hits;
static void on_chld(int sig, struct siginfo_ *si, void *uc) { chld_hits++; }

static int case_sigchld(void) {
    /* SIGCHLD handled while the parent waits in wait4: the child's status must not be lost */
    show("sigaction_chld", sigaction_(17, on_chld, SA_SIGINFO, 0));
    flush();
    i64 pid = SC0(57);
    if (pid == 0) {
        u64 req[2] = {0, 50 * 1000 * 1000};
        SC(35, req, 0);
        SC(60, 3);
    }
    int status = 0;
    i64 r, eintr = 0;
    do { r = SC(61, pid, &status, 0, 0); if (r == -4) eintr++; } while (r == -4);
    kv("wait4_is_child", r == pid);
    kv("exit_status", (status >> 8) & 0xff);
    for (int i = 0; i < 200 && !chld_hits; i++) { u64 req[2] = {0, 10 * 1000 * 1000}; SC(35, req, 0); }
    kv("handler_ran", chld_hits > 0);
    return 0;
}

static int case_unsupported(void) {
    show("io_setup", SC(206, 1, 0));
    show("io_setup_again", SC(206, 1, 0));
    return 0;
}

int cmain(long argc, char **argv, char **envp, u64 *auxv) {
    const char *c = argc > 1 ? argv[1] : "args";
    if (seq(c, "args")) return case_args(argc, argv, envp, auxv);
    if (seq(c, "files")) return case_files(argc, argv);
    if (seq(c, "mem")) return case_mem();
    if (seq(c, "fork")) return case_fork(argv);
    if (seq(c, "exec")) return case_exec(argv);
    if (seq(c, "signals")) return case_signals();
    if (seq(c, "die")) return case_die(argv);
    if (seq(c, "tls")) return case_tls();
    if (seq(c, "misc")) return case_misc();
    if (seq(c, "unsupported")) return case_unsupported();
    if (seq(c, "sysregs")) return case_sysregs();
    if (seq(c, "hostsig")) return case_hostsig();
    if (seq(c, "maps")) return case_maps();
    if (seq(c, "sigchld")) return case_sigchld();
    if (seq(c, "execscript")) return case_execscript(argv);
    if (seq(c, "hostsig_read")) return case_hostsig_read(argv);
    ks("unknown case", c);
    return 2;
}
