; rcx = rounds. Copies 4 KB from DATA to DATA+4K with 8-byte moves each round; rax = bytes copied.
    mov r8, rcx
    xor rax, rax
round:
    mov rsi, 0x100000
    mov rdi, 0x101000
    mov edx, 512
copy:
    mov r9, [rsi]
    mov [rdi], r9
    add rsi, 8
    add rdi, 8
    dec edx
    jnz copy
    add rax, 4096
    dec r8
    jnz round
    hlt
