; rcx = n (< 1 MB). Byte flags at DATA. rax = number of primes <= n.
    mov r8, rcx
    mov rdi, 0x100000
    xor eax, eax
    lea rcx, [r8 + 1]
    cld
    rep stosb               ; flags[0..n] = 0 (0 = maybe prime)
    xor rax, rax            ; count
    mov rbx, 2
outer:
    cmp rbx, r8
    ja done
    cmp byte ptr [0x100000 + rbx], 0
    jne next
    inc rax
    mov rdx, rbx
    imul rdx, rbx
mark:
    cmp rdx, r8
    ja next
    mov byte ptr [0x100000 + rdx], 1
    add rdx, rbx
    jmp mark
next:
    inc rbx
    jmp outer
done:
    hlt
