; Kernel-internal offsets. The memory map and the shared constants come from layout.py (prepended as .equ lines).

; the trap frame built by isr_common (lowest address first); F_UESP/F_USS exist only for traps from ring 3
.equ F_GS, 0
.equ F_FS, 4
.equ F_ES, 8
.equ F_DS, 12
.equ F_EDI, 16
.equ F_ESI, 20
.equ F_EBP, 24
.equ F_ESPK, 28
.equ F_EBX, 32
.equ F_EDX, 36
.equ F_ECX, 40
.equ F_EAX, 44
.equ F_VEC, 48
.equ F_ERR, 52
.equ F_EIP, 56
.equ F_CS, 60
.equ F_EFL, 64
.equ F_UESP, 68
.equ F_USS, 72
.equ FRAME_USER_SIZE, 76

; a task slot (TASK_SIZE bytes at TASKS + slot * TASK_SIZE); slot 0 is the kernel's own thread
.equ T_STATE, 0
.equ T_FRAME, 4
.equ T_KTOP, 8
.equ T_PREEMPT, 12
.equ T_EXIT, 16
.equ T_FREE, 0
.equ T_RUNNABLE, 1
.equ T_DEAD, 2

; page table entry bits
.equ PTE_P, 1
.equ PTE_W, 2
.equ PTE_U, 4
.equ PDE_PS, 0x80

; single-symbol names for fixed fields: Keystone silently drops the first of two symbols in a memory operand
; (it assembles [TASKS + T_EXIT] as [T_EXIT]), so a memory operand names at most one symbol
.equ TASK0_KTOP, TASKS + T_KTOP
.equ TASK1_EXIT, TASKS + TASK_SIZE + T_EXIT
.equ TASK1_PREEMPT, TASKS + TASK_SIZE + T_PREEMPT
.equ TASK2_PREEMPT, TASKS + 2 * TASK_SIZE + T_PREEMPT
.equ USER_WORK_ENTRY, USER_BASE + N_TASKS * 4

; page table entries the self-tests touch (Keystone rejects shifts inside memory operands)
.equ WP_PTE, PT0 + (WP_PAGE >> 12) * 4
.equ DEMAND_K_PDE, PAGE_DIR + (DEMAND_K >> 22) * 4
