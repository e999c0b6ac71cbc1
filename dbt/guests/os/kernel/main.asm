; kmain: the boot sequence; each step prints a line. Lines whose content depends on time start with "time:".

kmain:
    call serial_init
    mov esi, s_banner
    call kputsn
    mov esi, s_serial
    call kputsn
    call mb_report
    call gdt_init
    call idt_init
    call trap_tests
    call pic_init
    call pit_init
    call timer_test
    call paging_init
    call pf_tests
    call rtc_report
    mov dword ptr [TASK0_KTOP], BOOT_STACK_TOP
    call tasks_phase
    call work_phase
    mov esi, s_ticks
    call kputs
    mov eax, dword ptr [ticks]
    call kputdec
    call kputnl
    mov esi, s_done
    call kputsn
    mov al, EXIT_OK
    jmp kexit

; tasks_phase: four ring-3 tasks; 1 and 2 compute (preempted by the timer), 3 and 4 take faults in ring 3
tasks_phase:
    pushad
    mov esi, s_key_spin
    mov edx, SPIN_DEFAULT
    call parse_arg
    mov edx, eax
    mov esi, s_tasks_start
    call kputs
    call kputdec
    call kputnl
    mov ebx, 1
tasks_phase_create:
    mov esi, dword ptr [USER_BASE + ebx*4 - 4]  ; the user blob starts with its table of entry points
    call task_create
    inc ebx
    cmp ebx, N_TASKS
    jbe tasks_phase_create
    call run_tasks
    mov esi, s_tasks_done
    call kputs
    mov ebx, 1
tasks_phase_codes:
    mov al, 0x20
    call kputc
    mov ecx, ebx
    shl ecx, 5
    add ecx, TASKS
    mov eax, dword ptr [ecx + T_EXIT]
    call kputhex
    inc ebx
    cmp ebx, N_TASKS
    jbe tasks_phase_codes
    call kputnl
    mov ebx, 1
tasks_phase_counts:
    mov esi, s_time_task
    call kputs
    mov eax, ebx
    call kputdec
    mov esi, s_time_preempt
    call kputs
    mov ecx, ebx
    shl ecx, 5
    add ecx, TASKS
    mov eax, dword ptr [ecx + T_PREEMPT]
    call kputdec
    call kputnl
    inc ebx
    cmp ebx, N_TASKS
    jbe tasks_phase_counts
    mov esi, s_preempted_yes                    ; both compute tasks must have lost the CPU to the timer
    cmp dword ptr [TASK1_PREEMPT], 0
    je tasks_phase_not_preempted
    cmp dword ptr [TASK2_PREEMPT], 0
    jne tasks_phase_preempted
tasks_phase_not_preempted:
    mov esi, s_preempted_no
tasks_phase_preempted:
    call kputsn
    popad
    ret

; work_phase: the CPU-bound ring-3 workload, size from "work=N"
work_phase:
    pushad
    mov esi, s_key_work
    mov edx, WORK_DEFAULT
    call parse_arg
    cmp eax, WORK_MAX
    jbe work_phase_size
    mov eax, WORK_MAX
work_phase_size:
    mov edx, eax
    mov esi, s_work_start
    call kputs
    call kputdec
    call kputnl
    mov ebx, 1
    mov esi, dword ptr [USER_WORK_ENTRY]
    call task_create
    call run_tasks
    mov esi, s_work_done
    call kputs
    mov eax, dword ptr [TASK1_EXIT]
    call kputhex
    call kputnl
    popad
    ret

s_banner:        .asciz "mini-os: i386 multiboot kernel"
s_serial:        .asciz "serial: com1 115200 8n1, fifo on"
s_key_spin:      .asciz "spin="
s_key_work:      .asciz "work="
s_tasks_start:   .asciz "tasks: starting 4 ring-3 tasks, spin="
s_tasks_done:    .asciz "tasks: all ended, exit codes"
s_time_task:     .asciz "time: task "
s_time_preempt:  .asciz " preemptions="
s_preempted_yes: .asciz "preempted: yes"
s_preempted_no:  .asciz "preempted: no"
s_work_start:    .asciz "work: starting ring-3 workload, n="
s_work_done:     .asciz "work: ended, exit code "
s_ticks:         .asciz "time: ticks="
s_done:          .asciz "done: exiting with code 0x10"
