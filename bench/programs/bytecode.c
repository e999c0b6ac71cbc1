/* A small stack-based bytecode interpreter (switch dispatch: an indirect jump per instruction, hard for a binary
 * translator), running a bytecode program that computes, for n = 1..N, the Collatz step count and a
 * multiplicative hash of it. Prints the total steps and the hash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, AND, SHR, DUP, JZ, JNZ, JMP, LT, ODD, HALT };

/* Variables: 0 n, 1 x, 2 steps, 3 total, 4 hash, 5 limit. */

int main(int argc, char **argv) {
    int64_t limit = argc > 1 ? atoll(argv[1]) : 200000;
    int64_t vars[8] = {0};
    vars[5] = limit;
    /* The bytecode, assembled here with its jump targets patched in. */
    int64_t p[128];
    int pc = 0;
#define EMIT(...) do { int64_t ops_[] = {__VA_ARGS__}; for (size_t k_ = 0; k_ < sizeof ops_ / sizeof *ops_; k_++) p[pc++] = ops_[k_]; } while (0)
    EMIT(PUSH, 1, STORE, 0);
    int outer = pc;
    EMIT(LOAD, 0, LOAD, 5, LT, JZ, -1);
    int patch_end = pc - 1;
    EMIT(LOAD, 0, STORE, 1, PUSH, 0, STORE, 2);
    int inner = pc;
    EMIT(LOAD, 1, PUSH, 1, SUB, JZ, -1);
    int patch_done = pc - 1;
    EMIT(LOAD, 1, ODD, JZ, -1);
    int patch_even = pc - 1;
    EMIT(LOAD, 1, PUSH, 3, MUL, PUSH, 1, ADD, STORE, 1, JMP, -1);
    int patch_step = pc - 1;
    p[patch_even] = pc;
    EMIT(LOAD, 1, PUSH, 1, SHR, STORE, 1);
    p[patch_step] = pc;
    EMIT(PUSH, 1, LOAD, 2, ADD, STORE, 2, JMP, inner);
    p[patch_done] = pc;
    EMIT(LOAD, 3, LOAD, 2, ADD, STORE, 3);                       /* total += steps */
    EMIT(LOAD, 4, PUSH, 1000003, MUL, LOAD, 2, ADD, PUSH, 0xFFFFFFFF, AND, STORE, 4);   /* hash */
    EMIT(LOAD, 0, PUSH, 1, ADD, STORE, 0, JMP, outer);
    p[patch_end] = pc;
    EMIT(HALT);

    int64_t stack[64];
    int sp = 0;
    uint64_t executed = 0;
    for (int ip = 0;;) {
        executed++;
        switch (p[ip]) {
        case PUSH: stack[sp++] = p[ip + 1]; ip += 2; break;
        case LOAD: stack[sp++] = vars[p[ip + 1]]; ip += 2; break;
        case STORE: vars[p[ip + 1]] = stack[--sp]; ip += 2; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; ip++; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; ip++; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; ip++; break;
        case AND: sp--; stack[sp - 1] &= stack[sp]; ip++; break;
        case SHR: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] >> stack[sp]); ip++; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; ip++; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; ip++; break;
        case ODD: stack[sp - 1] &= 1; ip++; break;
        case JZ: ip = stack[--sp] == 0 ? (int)p[ip + 1] : ip + 2; break;
        case JNZ: ip = stack[--sp] != 0 ? (int)p[ip + 1] : ip + 2; break;
        case JMP: ip = (int)p[ip + 1]; break;
        case HALT: goto done;
        default: printf("bad opcode %lld at %d\n", (long long)p[ip], ip); return 1;
        }
    }
done:
    printf("n < %lld: %llu bytecode instructions\nchecksum: %lld %08llx\n", (long long)limit,
           (unsigned long long)executed, (long long)vars[3], (unsigned long long)vars[4]);
    return 0;
}
