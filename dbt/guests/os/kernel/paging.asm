; Paging: identity map of the low 8 MiB (4 KiB pages below 4 MiB; one 4 MiB PSE page above when CPUID says PSE),
; user pages U/S=1, kernel pages supervisor-only, CR0.WP=1. The #PF handler does demand paging in two windows and
; lifts the write protection of the test page; the self-tests take those faults on purpose.

paging_init:
    pushad
    pushfd                              ; CPUID exists if EFLAGS.ID can be toggled
    pop eax
    mov ecx, eax
    xor eax, 0x200000
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    test eax, 0x200000
    jz paging_cpuid_done
    mov eax, 1
    cpuid
    shr edx, 3                          ; CPUID.1:EDX bit 3 = PSE
    and edx, 1
    mov dword ptr [has_pse], edx
paging_cpuid_done:
    xor eax, eax                        ; page table 0: identity map of 0-4 MiB
paging_pt0:
    mov ecx, eax
    shl ecx, 12                         ; ecx = address of the page
    mov edx, ecx
    or edx, PTE_P | PTE_W
    test ecx, ecx
    jnz paging_not_null
    xor edx, edx                        ; page 0: not present
    jmp paging_store
paging_not_null:
    cmp ecx, USER_BASE
    jb paging_store
    cmp ecx, USER_CODE_END
    jae paging_not_ucode
    mov edx, ecx                        ; user code: user, read-only
    or edx, PTE_P | PTE_U
    jmp paging_store
paging_not_ucode:
    cmp ecx, USER_DATA
    jb paging_store
    cmp ecx, USER_DATA_END
    jae paging_not_udata
    or edx, PTE_U                       ; user stacks: user, read/write
    jmp paging_store
paging_not_udata:
    cmp ecx, WP_PAGE
    jne paging_store
    mov edx, ecx                        ; the write-protect test page: supervisor, read-only
    or edx, PTE_P
paging_store:
    mov dword ptr [PT0 + eax*4], edx
    inc eax
    cmp eax, 1024
    jb paging_pt0
    mov dword ptr [PAGE_DIR], PT0 | PTE_P | PTE_W | PTE_U
    cmp dword ptr [has_pse], 0
    je paging_no_pse
    mov dword ptr [PAGE_DIR + 4], BIG_USER | PDE_PS | PTE_P | PTE_W | PTE_U
    mov eax, cr4
    or eax, 0x10                        ; CR4.PSE
    mov cr4, eax
    jmp paging_enable
paging_no_pse:
    call alloc_frame                    ; a page table of 4 KiB pages for the 4-8 MiB user region
    mov edi, eax
    or eax, PTE_P | PTE_W | PTE_U
    mov dword ptr [PAGE_DIR + 4], eax
    mov eax, BIG_USER | PTE_P | PTE_W | PTE_U
    mov ecx, 1024
paging_big_4k:
    mov dword ptr [edi], eax
    add edi, 4
    add eax, 0x1000
    dec ecx
    jnz paging_big_4k
paging_enable:
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000                  ; PG | WP
    mov cr0, eax
    jmp paging_on
paging_on:
    mov esi, s_paging
    call kputsn
    popad
    ret

; alloc_frame: returns eax = a zeroed 4 KiB frame from the pool (identity mapped, supervisor)
alloc_frame:
    push ecx
    push edi
    mov eax, dword ptr [next_frame]
    cmp eax, FRAME_POOL_END
    jae alloc_frame_out
    add dword ptr [next_frame], 0x1000
    mov edi, eax
    push eax
    xor eax, eax
    mov ecx, 1024
    rep stosd
    pop eax
    pop edi
    pop ecx
    ret
alloc_frame_out:
    mov esi, s_oom
    jmp fail

; map_page: eax = virtual address, ecx = PTE flags; maps a fresh zeroed frame there (and a page table if needed)
map_page:
    pushad
    mov ebx, eax
    shr ebx, 22
    mov edx, dword ptr [PAGE_DIR + ebx*4]
    test edx, PTE_P
    jnz map_page_have_pt
    call alloc_frame
    mov edx, eax
    or eax, ecx
    mov dword ptr [PAGE_DIR + ebx*4], eax
map_page_have_pt:
    and edx, 0xFFFFF000
    mov ebx, dword ptr [esp + 28]       ; the virtual address (saved eax)
    shr ebx, 12
    and ebx, 0x3FF
    call alloc_frame
    or eax, ecx
    mov dword ptr [edx + ebx*4], eax
    mov eax, dword ptr [esp + 28]
    invlpg [eax]
    popad
    ret

; pf_handler: ebp = frame. Not-present faults in the demand windows get a fresh page (the access is retried);
; a ring-0 write to the write-protect test page makes it writable; anything else is fatal.
pf_handler:
    mov eax, cr2
    mov edx, dword ptr [ebp + F_ERR]
    mov esi, s_pf
    call kputs
    call kputhex
    mov esi, s_err
    call kputs
    xchg eax, edx
    call kputhex
    xchg eax, edx
    test edx, PTE_P
    jnz pf_protection
    cmp eax, DEMAND_K
    jb pf_try_user
    cmp eax, DEMAND_K_END
    jae pf_try_user
    test edx, 4
    jnz pf_fatal
    mov ecx, PTE_P | PTE_W
    mov esi, s_pf_kernel
    jmp pf_map
pf_try_user:
    cmp eax, DEMAND_U
    jb pf_fatal
    cmp eax, DEMAND_U_END
    jae pf_fatal
    mov ecx, PTE_P | PTE_W | PTE_U
    mov esi, s_pf_user
pf_map:
    call kputsn
    call map_page
    mov eax, ebp
    ret
pf_protection:
    and eax, 0xFFFFF000
    cmp eax, WP_PAGE
    jne pf_fatal
    cmp edx, PTE_P | PTE_W              ; present, write, supervisor
    jne pf_fatal
    mov esi, s_pf_wp
    call kputsn
    or dword ptr [WP_PTE], PTE_W
    invlpg [eax]
    mov eax, ebp
    ret
pf_fatal:
    mov esi, s_pf_fatal
    call kputsn
    jmp exc_fatal

; pf_tests: demand paging on a kernel read and a kernel write, the WP fault, and INVLPG after a remap
pf_tests:
    pushad
    mov eax, dword ptr [DEMAND_K + 0x10]            ; not present: #PF err=0, mapped, retried
    mov ebx, eax
    mov esi, s_pf_read
    call kputs
    call kputhex
    call kputnl
    mov edx, 0
    mov esi, s_pf_read
    call expect
    mov dword ptr [DEMAND_K + 0x1ABC], 0xCAFEBABE   ; not present: #PF err=2
    mov eax, dword ptr [DEMAND_K + 0x1ABC]
    mov esi, s_pf_write
    call kputs
    call kputhex
    call kputnl
    mov edx, 0xCAFEBABE
    call expect
    mov eax, dword ptr [WP_PAGE + 0x40]             ; reading the read-only page is fine
    mov dword ptr [WP_PAGE + 0x40], 0x600DF00D      ; writing it with CR0.WP=1: #PF err=3
    mov eax, dword ptr [WP_PAGE + 0x40]
    mov esi, s_wp
    call kputs
    call kputhex
    call kputnl
    mov edx, 0x600DF00D
    call expect
    mov eax, dword ptr [DEMAND_K_PDE]
    and eax, 0xFFFFF000                             ; the page table of the kernel demand window
    mov ebx, dword ptr [eax]                        ; PTE of DEMAND_K
    mov ecx, dword ptr [eax + 4]                    ; PTE of DEMAND_K + 0x1000
    mov edx, dword ptr [DEMAND_K + 0xABC]           ; make sure the old translation is cached
    mov dword ptr [eax], ecx                        ; point DEMAND_K at the second frame
    invlpg [DEMAND_K]
    mov edi, dword ptr [DEMAND_K + 0xABC]
    mov dword ptr [eax], ebx                        ; and back
    invlpg [DEMAND_K]
    mov edx, dword ptr [DEMAND_K + 0xABC]
    mov esi, s_invlpg
    call kputs
    mov eax, edi
    call kputhex
    mov esi, s_invlpg_back
    call kputs
    mov eax, edx
    call kputhex
    call kputnl
    mov esi, s_invlpg
    mov eax, edi
    mov edx, 0xCAFEBABE
    call expect
    mov eax, dword ptr [DEMAND_K + 0xABC]
    xor edx, edx
    call expect
    popad
    ret

s_paging:       .asciz "paging: on"
s_oom:          .asciz "out of page frames"
s_pf:           .asciz "pf: cr2="
s_pf_kernel:    .asciz " -> mapped a kernel page"
s_pf_user:      .asciz " -> mapped a user page"
s_pf_wp:        .asciz " -> write-protected page made writable"
s_pf_fatal:     .asciz " -> not handled"
s_pf_read:      .asciz "pf: kernel read of a demand page gave "
s_pf_write:     .asciz "pf: kernel write to a demand page read back "
s_wp:           .asciz "wp: write to the read-only page retried, read back "
s_invlpg:       .asciz "invlpg: remapped page reads "
s_invlpg_back:  .asciz ", restored page reads "
