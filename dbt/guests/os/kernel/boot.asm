; Multiboot v1 header and the entry point. Must come first in the image: the header has to sit in the first 8 KiB.
; On entry (multiboot spec): 32-bit protected mode, flat CS/DS/ES/SS, paging off, interrupts off,
; EAX = 0x2BADB002, EBX = physical address of the multiboot info structure, ESP undefined.

.align 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long MB_CHECKSUM

kernel_entry:
    cli
    cld
    mov esi, eax                ; keep the boot registers while the bss is cleared
    mov ebp, ebx
    mov edi, BSS_BASE           ; the loader zero-fills the bss already; do it anyway, a kernel should not trust that
    mov ecx, BSS_DWORDS
    xor eax, eax
    rep stosd
    mov esp, BOOT_STACK_TOP
    mov dword ptr [mb_magic], esi
    mov dword ptr [mb_info], ebp
    call kmain
    mov al, EXIT_FAIL           ; kmain does not return
    jmp kexit

; kexit: al = value for QEMU's isa-debug-exit (the process exits with status (al << 1) | 1)
kexit:
    mov dx, DEBUG_EXIT_PORT
    out dx, al
kexit_hang:                     ; no debug-exit device: stop here
    cli
    hlt
    jmp kexit_hang
