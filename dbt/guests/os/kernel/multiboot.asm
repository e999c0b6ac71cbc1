; The multiboot information: check the boot magic, print memory sizes, the command line and the module count.
; The command line is copied into the kernel (it lives in loader memory). Bootloaders (GRUB, QEMU) put the kernel's
; path first; the kernel treats a first word without '=' as that path and keeps the rest as its arguments.

mb_report:
    pushad
    mov eax, dword ptr [mb_magic]
    cmp eax, MB_BOOT_MAGIC
    je mb_magic_ok
    mov esi, s_mb_badmagic
    call kputs
    call kputhex
    call kputnl
    mov al, EXIT_FAIL
    jmp kexit
mb_magic_ok:
    mov esi, s_mb_magic
    call kputs
    call kputhex
    call kputnl
    mov ebx, dword ptr [mb_info]
    mov edx, dword ptr [ebx]            ; flags
    test edx, 1
    jz mb_no_mem
    mov esi, s_mb_mem_lower
    call kputs
    mov eax, dword ptr [ebx + 4]
    call kputdec
    mov esi, s_mb_mem_upper
    call kputs
    mov eax, dword ptr [ebx + 8]
    call kputdec
    mov esi, s_mb_kb
    call kputsn
mb_no_mem:
    mov dword ptr [cmdline_args], cmdline_buf     ; empty unless the loader passed one
    test edx, 4
    jz mb_no_cmdline
    mov esi, dword ptr [ebx + 16]
    mov edi, cmdline_buf
    mov ecx, 255
mb_copy:
    mov al, byte ptr [esi]
    mov byte ptr [edi], al
    test al, al
    jz mb_copied
    inc esi
    inc edi
    dec ecx
    jnz mb_copy
    mov byte ptr [edi], 0
mb_copied:
    call cmdline_skip_path
    mov esi, s_mb_cmdline
    call kputs
    mov esi, dword ptr [cmdline_args]
    call kputs
    mov esi, s_quote
    call kputsn
    jmp mb_mods
mb_no_cmdline:
    mov esi, s_mb_nocmdline
    call kputsn
mb_mods:
    test edx, 8
    jz mb_done
    mov esi, s_mb_mods
    call kputs
    mov eax, dword ptr [ebx + 20]
    call kputdec
    call kputnl
mb_done:
    popad
    ret

; cmdline_skip_path: cmdline_args = cmdline_buf without a leading path word (a first word that has no '=')
cmdline_skip_path:
    pushad
    mov esi, cmdline_buf
csp_lead:                               ; skip leading spaces
    cmp byte ptr [esi], 0x20
    jne csp_word
    inc esi
    jmp csp_lead
csp_word:
    mov edi, esi                        ; edi = start of the first word
csp_scan:
    mov al, byte ptr [esi]
    test al, al
    jz csp_end_word
    cmp al, 0x20
    je csp_end_word
    cmp al, 0x3D                        ; '=': the first word is an argument, keep everything
    je csp_keep
    inc esi
    jmp csp_scan
csp_end_word:
    cmp byte ptr [esi], 0x20
    jne csp_set
    inc esi
    jmp csp_end_word
csp_keep:
    mov esi, edi
csp_set:
    mov dword ptr [cmdline_args], esi
    popad
    ret

; parse_arg: esi = key including '=' (e.g. "work="), edx = default; returns eax = the decimal value of the first
; argument word that starts with the key: from the loader's command line, else from the built-in default line
parse_arg:
    push edi
    mov edi, dword ptr [cmdline_args]
    call find_arg
    jnc parse_arg_done
    mov edi, cmdline_default
    call find_arg
    jnc parse_arg_done
    mov eax, edx
parse_arg_done:
    pop edi
    ret

; find_arg: edi = argument words, esi = key; CF=0 and eax = value when found, CF=1 otherwise
find_arg:
    push ebx
    push ecx
    push edi
fa_token:
    mov al, byte ptr [edi]
    test al, al
    jz fa_missing
    cmp al, 0x20
    jne fa_compare
    inc edi
    jmp fa_token
fa_compare:
    mov ebx, esi
    mov ecx, edi
fa_compare_loop:
    mov al, byte ptr [ebx]
    test al, al
    jz fa_match
    cmp al, byte ptr [ecx]
    jne fa_skip
    inc ebx
    inc ecx
    jmp fa_compare_loop
fa_skip:
    mov al, byte ptr [edi]
    test al, al
    jz fa_missing
    cmp al, 0x20
    je fa_token
    inc edi
    jmp fa_skip
fa_match:
    xor eax, eax
fa_digit:
    movzx ebx, byte ptr [ecx]
    sub ebx, 0x30
    cmp ebx, 9
    ja fa_found
    imul eax, eax, 10
    add eax, ebx
    inc ecx
    jmp fa_digit
fa_found:
    clc
    jmp fa_done
fa_missing:
    stc
fa_done:
    pop edi
    pop ecx
    pop ebx
    ret

s_mb_badmagic:   .asciz "boot: bad multiboot magic "
s_mb_magic:      .asciz "multiboot: magic "
s_mb_mem_lower:  .asciz "multiboot: mem_lower="
s_mb_mem_upper:  .asciz "K mem_upper="
s_mb_kb:         .asciz "K"
s_mb_cmdline:    .asciz "multiboot: cmdline args \""
s_quote:         .asciz "\""
s_mb_nocmdline:  .asciz "multiboot: no cmdline"
s_mb_mods:       .asciz "multiboot: mods="
