; rcx = n. rax = fib(n), recursively.
    mov rdi, rcx
    call fib
    hlt
fib:
    cmp rdi, 2
    jb small
    push rdi
    dec rdi
    call fib
    pop rdi
    push rax
    sub rdi, 2
    call fib
    pop rdx
    add rax, rdx
    ret
small:
    mov rax, rdi
    ret
