; rcx = rounds. Each round: fill 4 KB with STOSB, copy it with MOVSB, scan 64 bytes with SCASB. rax = bytes scanned.
    mov r8, rcx
    xor r10, r10
    cld
round:
    mov rdi, 0x100000
    mov ecx, 4096
    mov al, 0x5a
    rep stosb
    mov rsi, 0x100000
    mov rdi, 0x101000
    mov ecx, 4096
    rep movsb
    mov rdi, 0x101000
    mov ecx, 64
    mov al, 0x00
    repne scasb
    mov eax, 64
    sub eax, ecx
    add r10, rax
    dec r8
    jnz round
    mov rax, r10
    hlt
