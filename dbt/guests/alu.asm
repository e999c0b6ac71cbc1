; rcx = iterations. rax = result.  a = a*3 + i; b ^= a >> 7; b += a & 0xff
    mov r8, rcx
    xor r9, r9          ; i
    mov rsi, 1          ; a
    xor rdi, rdi        ; b
loop:
    lea rsi, [rsi + rsi*2]
    add rsi, r9
    mov rax, rsi
    shr rax, 7
    xor rdi, rax
    movzx eax, sil
    add rdi, rax
    inc r9
    cmp r9, r8
    jne loop
    mov rax, rdi
    hlt
