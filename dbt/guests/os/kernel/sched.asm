; Tasks and system calls. Every task that is not running is suspended inside a trap frame on its own kernel stack,
; so a switch is: remember the current frame, pick the next task, point TSS.ESP0 at its kernel stack and resume its
; frame. Slot 0 is the kernel's own thread; it runs only when no ring-3 task is runnable.
; Output order does not depend on preemption: tasks print only when the shared `turn` counter (incremented each time
; a task ends) reaches their number.

; schedule: ebp = frame of the current task; returns eax = frame of the next task (round robin over slots 1..)
schedule:
    push ebx
    push ecx
    push edi
    mov ebx, dword ptr [current]
    mov ecx, ebx
    shl ecx, 5
    add ecx, TASKS
    mov dword ptr [ecx + T_FRAME], ebp
    mov edi, MAX_TASKS - 1
schedule_next:
    inc ebx
    cmp ebx, MAX_TASKS
    jb schedule_check
    mov ebx, 1
schedule_check:
    mov ecx, ebx
    shl ecx, 5
    add ecx, TASKS
    cmp dword ptr [ecx + T_STATE], T_RUNNABLE
    je schedule_found
    dec edi
    jnz schedule_next
    xor ebx, ebx
    mov ecx, TASKS
schedule_found:
    mov dword ptr [current], ebx
    mov eax, dword ptr [ecx + T_KTOP]
    mov dword ptr [tss + 4], eax
    mov eax, dword ptr [ecx + T_FRAME]
    pop edi
    pop ecx
    pop ebx
    ret

; task_create: ebx = slot (1..MAX_TASKS-1), esi = ring-3 entry point, edx = argument (passed in EBX)
task_create:
    pushad
    mov ecx, ebx
    shl ecx, 5
    add ecx, TASKS
    lea eax, [ebx + 1]
    shl eax, 12
    add eax, KSTACKS
    mov dword ptr [ecx + T_KTOP], eax
    sub eax, FRAME_USER_SIZE
    mov edi, eax
    mov dword ptr [ecx + T_FRAME], eax
    push ecx
    push edi
    mov ecx, FRAME_USER_SIZE / 4
    xor eax, eax
    rep stosd
    pop edi
    pop ecx
    mov eax, USER_DS
    mov dword ptr [edi + F_GS], eax
    mov dword ptr [edi + F_FS], eax
    mov dword ptr [edi + F_ES], eax
    mov dword ptr [edi + F_DS], eax
    mov dword ptr [edi + F_USS], eax
    mov dword ptr [edi + F_EBX], edx
    mov dword ptr [edi + F_EAX], ebx
    mov dword ptr [edi + F_EIP], esi
    mov dword ptr [edi + F_CS], USER_CS
    mov dword ptr [edi + F_EFL], 0x202          ; IF=1, IOPL=0
    lea eax, [ebx + 1]
    shl eax, 12
    add eax, USER_DATA
    mov dword ptr [edi + F_UESP], eax
    mov dword ptr [ecx + T_PREEMPT], 0
    mov dword ptr [ecx + T_EXIT], 0
    mov dword ptr [ecx + T_STATE], T_RUNNABLE
    inc dword ptr [live_tasks]
    popad
    ret

; run_tasks: the kernel thread gives the CPU away and sleeps until every ring-3 task has ended
run_tasks:
    pushad
    mov dword ptr [turn], 0
    mov eax, SYS_YIELD
    int 0x80
run_tasks_wait:
    cmp dword ptr [live_tasks], 0
    je run_tasks_done
    sti
    hlt
    cli
    jmp run_tasks_wait
run_tasks_done:
    popad
    ret

; task_end: ebp = frame, eax = exit code; ends the current task and returns eax = the next frame
task_end:
    mov ebx, dword ptr [current]
    shl ebx, 5
    add ebx, TASKS
    mov dword ptr [ebx + T_EXIT], eax
    mov dword ptr [ebx + T_STATE], T_DEAD
    dec dword ptr [live_tasks]
    inc dword ptr [turn]
    jmp schedule

; syscall_entry: INT 0x80, eax = number, arguments in ebx, ecx; result in eax
syscall_entry:
    mov eax, dword ptr [ebp + F_EAX]
    cmp eax, SYS_TURN
    ja sys_bad
    jmp dword ptr [syscall_table + eax*4]

sys_bad:
    mov dword ptr [ebp + F_EAX], 0xFFFFFFFF
    mov eax, ebp
    ret

; write(ebx = buffer, ecx = length) -> length, or -1 when a ring-3 caller's buffer is not user memory
sys_write:
    mov esi, dword ptr [ebp + F_EBX]
    mov ecx, dword ptr [ebp + F_ECX]
    test dword ptr [ebp + F_CS], 3
    jz sys_write_ok
    mov edi, user_windows
sys_write_window:
    mov eax, dword ptr [edi]
    test eax, eax
    jz sys_bad
    cmp esi, eax
    jb sys_write_next
    mov eax, esi
    add eax, ecx
    jc sys_bad
    cmp eax, dword ptr [edi + 4]
    jbe sys_write_ok
sys_write_next:
    add edi, 8
    jmp sys_write_window
sys_write_ok:
    mov dword ptr [ebp + F_EAX], ecx
    test ecx, ecx
    jz sys_write_done
sys_write_loop:
    mov al, byte ptr [esi]
    call kputc
    inc esi
    dec ecx
    jnz sys_write_loop
sys_write_done:
    mov eax, ebp
    ret

sys_yield:
    mov dword ptr [ebp + F_EAX], 0
    jmp schedule

; exit(ebx = code)
sys_exit:
    mov eax, dword ptr [ebp + F_EBX]
    jmp task_end

sys_ticks:
    mov eax, dword ptr [ticks]
    mov dword ptr [ebp + F_EAX], eax
    mov eax, ebp
    ret

; turn() -> how many tasks have ended so far
sys_turn:
    mov eax, dword ptr [turn]
    mov dword ptr [ebp + F_EAX], eax
    mov eax, ebp
    ret

.align 4
syscall_table:
    .long sys_bad, sys_write, sys_yield, sys_exit, sys_ticks, sys_turn

; user memory a write() buffer may come from: [start, end) pairs, 0-terminated
user_windows:
    .long USER_BASE, USER_CODE_END
    .long USER_DATA, USER_DATA_END
    .long BIG_USER, BIG_USER_END
    .long DEMAND_U, DEMAND_U_END
    .long 0, 0
