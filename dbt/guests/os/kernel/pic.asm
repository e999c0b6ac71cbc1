; 8259A PICs (remapped to 0x20/0x28, everything masked but IRQ0) and the 8254 PIT channel 0 (mode 2).

pic_init:
    pushad
    mov al, 0x11                        ; ICW1: edge triggered, cascade, ICW4 follows
    out 0x20, al
    out 0xA0, al
    mov al, 0x20                        ; ICW2: vector bases
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 0x04                        ; ICW3: slave on IRQ2 / slave id 2
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01                        ; ICW4: 8086 mode, normal EOI
    out 0x21, al
    out 0xA1, al
    mov al, 0xFE                        ; OCW1: only IRQ0 unmasked
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    in al, 0x21                         ; read the masks back
    movzx edx, al
    in al, 0xA1
    movzx ebx, al
    mov esi, s_pic
    call kputs
    mov eax, edx
    mov ecx, 2
    call kputhexn
    mov esi, s_pic_slave
    call kputs
    mov eax, ebx
    call kputhexn
    call kputnl
    popad
    ret

pit_init:
    pushad
    mov al, 0x34                        ; channel 0, lobyte/hibyte, mode 2 (rate generator), binary
    out 0x43, al
    mov al, PIT_DIVISOR & 0xFF
    out 0x40, al
    mov al, PIT_DIVISOR >> 8
    out 0x40, al
    mov esi, s_pit
    call kputsn
    popad
    ret

; timer_test: interrupts on, HLT until three more ticks have been counted
timer_test:
    pushad
    mov ebx, dword ptr [ticks]
    add ebx, 3
    sti
timer_test_wait:
    hlt
    cmp dword ptr [ticks], ebx
    jb timer_test_wait
    cli
    mov esi, s_timer_ok
    call kputsn
    popad
    ret

; irq_entry: eax = vector (0x20-0x2F). Spurious IRQ 7/15 (ISR bit clear) get no EOI on their own PIC.
irq_entry:
    sub eax, 32
    mov ebx, eax
    cmp ebx, 7
    je irq_check_master
    cmp ebx, 15
    je irq_check_slave
irq_eoi:
    mov al, 0x20
    cmp ebx, 8
    jb irq_eoi_master
    out 0xA0, al
irq_eoi_master:
    out 0x20, al
    test ebx, ebx
    jz timer_tick
    mov eax, ebp
    ret
irq_check_master:
    mov al, 0x0B                        ; OCW3: read ISR
    out 0x20, al
    in al, 0x20
    test al, 0x80
    jnz irq_eoi
    inc dword ptr [spurious]
    mov eax, ebp
    ret
irq_check_slave:
    mov al, 0x0B
    out 0xA0, al
    in al, 0xA0
    test al, 0x80
    jnz irq_eoi
    inc dword ptr [spurious]
    mov al, 0x20                        ; the master did see IRQ2
    out 0x20, al
    mov eax, ebp
    ret

; timer_tick: counts the tick and preempts: the next runnable ring-3 task (round robin) gets the CPU
timer_tick:
    inc dword ptr [ticks]
    cmp dword ptr [live_tasks], 0
    je timer_same
    mov ebx, dword ptr [current]
    call schedule
    cmp dword ptr [current], ebx
    je timer_done
    test dword ptr [ebp + F_CS], 3
    jz timer_done
    inc dword ptr [preemptions]
    shl ebx, 5
    add ebx, TASKS
    inc dword ptr [ebx + T_PREEMPT]
timer_done:
    ret
timer_same:
    mov eax, ebp
    ret

s_pic:       .asciz "pic: remapped to 0x20/0x28, masks master="
s_pic_slave: .asciz " slave="
s_pit:       .asciz "pit: channel 0 mode 2, 1000 Hz"
s_timer_ok:  .asciz "pit: irq0 ticking"
