/* A stand-in dynamic loader for the PT_INTERP tests (a static PIE, no SSE): it checks what the kernel (or the
   process VM) told it in the auxiliary vector, then jumps to the program's entry with the initial stack, as ld.so
   does after relocating. */
#include "rt.h"

extern char __ehdr_start[];
extern void _start(void);

static u64 aux(u64 *auxv, u64 type) { for (; auxv[0]; auxv += 2) if (auxv[0] == type) return auxv[1]; return ~0UL; }

int cmain(long argc, char **argv, char **envp, u64 *auxv) {
    ps("interp: argc="); pn(argc); ps("\n");
    kv("interp: AT_BASE_is_me", aux(auxv, 7) == (u64)__ehdr_start);
    kv("interp: AT_ENTRY_not_me", aux(auxv, 9) != (u64)_start);
    u64 phdr = aux(auxv, 3);
    kv("interp: AT_PHDR_is_exec_type", *(u32 *)phdr == 6 || *(u32 *)phdr == 1 || *(u32 *)phdr == 3);
    flush();
    u64 entry = aux(auxv, 9);
    __asm__ volatile("mov %0, %%rsp\n xor %%edx, %%edx\n jmp *%1" : : "a"(initial_sp), "c"(entry) : "memory");
    return 99;
}
