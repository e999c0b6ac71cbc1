; The ring-3 programs, assembled at USER_BASE (user, read-only pages). Entry: EBX = argument, ESP = the task's
; user stack. System calls: INT 0x80 with EAX = 1 write(ebx, ecx), 2 yield, 3 exit(ebx), 4 ticks, 5 turn.
; Tasks print only in their turn (turn = number of tasks ended so far), so the output order is fixed.

u_entries:
    .long u_task1, u_task2, u_task3, u_task4, u_work

; task 1: ebx iterations of the LCG x = x * 1664525 + 1013904223 from x = 1
u_task1:
    mov ecx, ebx
    mov eax, 1
    test ecx, ecx
    jz u_task1_done
u_task1_loop:
    imul eax, eax, 1664525
    add eax, 1013904223
    dec ecx
    jnz u_task1_loop
u_task1_done:
    mov edi, eax
    mov ebp, ebx
    xor ebx, ebx
    call u_wait_turn
    mov esi, us_task1
    call u_puts
    mov eax, ebp
    call u_putdec
    mov esi, us_paren
    call u_puts
    mov eax, edi
    call u_puthex
    call u_nl
    xor ebx, ebx
    jmp u_exit

; task 2: ebx iterations of xorshift32 (13, 17, 5) from x = 2463534242
u_task2:
    mov ecx, ebx
    mov eax, 2463534242
    test ecx, ecx
    jz u_task2_done
u_task2_loop:
    mov edx, eax
    shl edx, 13
    xor eax, edx
    mov edx, eax
    shr edx, 17
    xor eax, edx
    mov edx, eax
    shl edx, 5
    xor eax, edx
    dec ecx
    jnz u_task2_loop
u_task2_done:
    mov edi, eax
    mov ebp, ebx
    mov ebx, 1
    call u_wait_turn
    mov esi, us_task2
    call u_puts
    mov eax, ebp
    call u_putdec
    mov esi, us_paren
    call u_puts
    mov eax, edi
    call u_puthex
    call u_nl
    xor ebx, ebx
    jmp u_exit

; task 3: demand paging from ring 3, then a read of kernel memory (killed by #PF)
u_task3:
    mov ebx, 2
    call u_wait_turn
    mov dword ptr [DEMAND_U + 0x20], 0x5EED
    mov eax, dword ptr [DEMAND_U + 0x20]
    mov esi, us_task3
    call u_puts
    call u_puthex
    call u_nl
    mov eax, dword ptr [KERNEL_BASE]
    mov esi, us_survived
    call u_puts
    mov ebx, 1
    jmp u_exit

; task 4: write() of a kernel buffer is refused, then CLI in ring 3 (killed by #GP)
u_task4:
    mov ebx, 3
    call u_wait_turn
    mov eax, SYS_WRITE
    mov ebx, KERNEL_BASE
    mov ecx, 16
    int 0x80
    mov esi, us_task4_write
    call u_puts
    call u_puthex
    call u_nl
    mov eax, SYS_TICKS
    int 0x80
    mov esi, us_task4_ticks
    call u_puts
    call u_putdec
    call u_nl
    mov esi, us_task4_cli
    call u_puts
    call u_nl
    cli
    mov esi, us_survived
    call u_puts
    mov ebx, 1
    jmp u_exit

; the workload: ebx = n. Sieve of Eratosthenes over n byte flags at BIG_USER, then one pass over the flags:
; count the primes, mix = mix * 31 + (p * p mod 65521) for each prime p (MUL, DIV), and the CRC-32 of the n flag
; bytes (bitwise, reflected polynomial 0xEDB88320).
u_work:
    mov ebp, ebx
    mov edi, BIG_USER
    lea ecx, [ebp + 3]
    shr ecx, 2
    mov eax, 0x01010101
    rep stosd
    mov byte ptr [BIG_USER], 0
    mov byte ptr [BIG_USER + 1], 0
    mov esi, 2
u_work_sieve:
    mov eax, esi
    mul esi
    cmp eax, ebp
    jae u_work_sieved
    cmp byte ptr [BIG_USER + esi], 0
    je u_work_sieve_next
u_work_cross:
    mov byte ptr [BIG_USER + eax], 0
    add eax, esi
    cmp eax, ebp
    jb u_work_cross
u_work_sieve_next:
    inc esi
    jmp u_work_sieve
u_work_sieved:
    push 0                              ; [esp] = mix
    xor ebx, ebx                        ; prime count
    mov edi, 0xFFFFFFFF                 ; crc
    xor esi, esi
    test ebp, ebp
    jz u_work_summed
u_work_sum:
    movzx eax, byte ptr [BIG_USER + esi]
    xor edi, eax
    mov ecx, 8
u_work_crc_bit:
    shr edi, 1
    jnc u_work_crc_next
    xor edi, 0xEDB88320
u_work_crc_next:
    dec ecx
    jnz u_work_crc_bit
    test eax, eax
    jz u_work_sum_next
    inc ebx
    mov eax, esi
    mul esi
    mov ecx, 65521
    div ecx
    mov eax, dword ptr [esp]
    imul eax, eax, 31
    add eax, edx
    mov dword ptr [esp], eax
u_work_sum_next:
    inc esi
    cmp esi, ebp
    jb u_work_sum
u_work_summed:
    not edi
    mov esi, us_work_n
    call u_puts
    mov eax, ebp
    call u_putdec
    mov esi, us_work_primes
    call u_puts
    mov eax, ebx
    call u_putdec
    mov esi, us_work_mix
    call u_puts
    mov eax, dword ptr [esp]
    call u_puthex
    mov esi, us_work_crc
    call u_puts
    mov eax, edi
    call u_puthex
    call u_nl
    pop eax
    xor ebx, ebx
    jmp u_exit

; ---- the user library; every routine preserves every register ----

; u_wait_turn: ebx = turn to wait for; yields until turn() >= ebx
u_wait_turn:
    push eax
u_wait_turn_loop:
    mov eax, SYS_TURN
    int 0x80
    cmp eax, ebx
    jae u_wait_turn_done
    mov eax, SYS_YIELD
    int 0x80
    jmp u_wait_turn_loop
u_wait_turn_done:
    pop eax
    ret

; u_exit: ebx = exit code
u_exit:
    mov eax, SYS_EXIT
    int 0x80
    jmp u_exit

; u_write: esi = buffer, ecx = length
u_write:
    push eax
    push ebx
    mov eax, SYS_WRITE
    mov ebx, esi
    int 0x80
    pop ebx
    pop eax
    ret

; u_puts: esi = NUL-terminated string
u_puts:
    push ecx
    xor ecx, ecx
u_puts_len:
    cmp byte ptr [esi + ecx], 0
    je u_puts_write
    inc ecx
    jmp u_puts_len
u_puts_write:
    call u_write
    pop ecx
    ret

u_nl:
    push esi
    mov esi, us_nl
    call u_puts
    pop esi
    ret

; u_puthex: eax = value, 8 hex digits
u_puthex:
    pushad
    sub esp, 8
    mov edx, eax
    xor edi, edi
u_puthex_digit:
    rol edx, 4
    mov eax, edx
    and eax, 0xF
    mov al, byte ptr [us_hex + eax]
    mov byte ptr [esp + edi], al
    inc edi
    cmp edi, 8
    jb u_puthex_digit
    mov esi, esp
    mov ecx, 8
    call u_write
    add esp, 8
    popad
    ret

; u_putdec: eax = unsigned value
u_putdec:
    pushad
    sub esp, 12
    lea esi, [esp + 12]
    mov ebx, 10
u_putdec_digit:
    xor edx, edx
    div ebx
    add dl, 0x30
    dec esi
    mov byte ptr [esi], dl
    test eax, eax
    jnz u_putdec_digit
    lea ecx, [esp + 12]
    sub ecx, esi
    call u_write
    add esp, 12
    popad
    ret

us_hex:          .ascii "0123456789ABCDEF"
us_nl:           .asciz "\n"
us_paren:        .asciz ") = "
us_task1:        .asciz "task 1: lcg("
us_task2:        .asciz "task 2: xorshift32("
us_task3:        .asciz "task 3: user demand page read back "
us_task4_write:  .asciz "task 4: write() of a kernel buffer returned "
us_task4_ticks:  .asciz "time: task 4 ticks="
us_task4_cli:    .asciz "task 4: cli in ring 3"
us_survived:     .asciz "task survived a fatal fault\n"
us_work_n:       .asciz "work: n="
us_work_primes:  .asciz " primes="
us_work_mix:     .asciz " mix="
us_work_crc:     .asciz " crc32="
