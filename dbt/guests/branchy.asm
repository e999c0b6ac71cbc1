; rcx = iterations. 32-bit LCG; branches on its bits. rax = acc.
    mov r8, rcx
    mov edx, 12345
    xor rax, rax
again:
    imul edx, edx, 1103515245
    add edx, 12345
    test edx, 0x100
    jz not_100
    add rax, 3
    jmp next
not_100:
    test edx, 0x40
    jz not_40
    mov r9d, edx
    xor rax, r9
    jmp next
not_40:
    dec rax
next:
    dec r8
    jnz again
    hlt
