; COM1 (16550) output by polling. All routines preserve every register.

serial_init:
    push eax
    push edx
    mov dx, COM1 + 1            ; IER: no UART interrupts
    xor al, al
    out dx, al
    mov dx, COM1 + 3            ; LCR: DLAB=1 to reach the divisor latch
    mov al, 0x80
    out dx, al
    mov dx, COM1                ; divisor 1: 115200 baud
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3            ; LCR: 8 data bits, no parity, 1 stop bit, DLAB=0
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 2            ; FCR: enable and clear both FIFOs, 14-byte trigger
    mov al, 0xC7
    out dx, al
    mov dx, COM1 + 4            ; MCR: DTR, RTS
    mov al, 0x03
    out dx, al
    pop edx
    pop eax
    ret

; kputc: al = character; waits for LSR.THRE (bit 5) then writes THR
kputc:
    push edx
    push eax
    mov dx, COM1 + 5
kputc_wait:
    in al, dx
    test al, 0x20
    jz kputc_wait
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

kputnl:
    push eax
    mov al, 10
    call kputc
    pop eax
    ret

; kputs: esi = NUL-terminated string
kputs:
    push esi
    push eax
kputs_loop:
    mov al, byte ptr [esi]
    test al, al
    jz kputs_done
    call kputc
    inc esi
    jmp kputs_loop
kputs_done:
    pop eax
    pop esi
    ret

; kputsn: esi = string, then newline
kputsn:
    call kputs
    jmp kputnl

; kputhex: eax = value, 8 hex digits
kputhex:
    push ecx
    mov ecx, 8
    call kputhexn
    pop ecx
    ret

; kputhexn: eax = value, ecx = number of low hex digits to print (1..8)
kputhexn:
    pushad
    mov edx, eax
    mov ebx, ecx
    mov ecx, 8
    sub ecx, ebx
    shl ecx, 2
    shl edx, cl                 ; the first digit to print is now the top nibble
    mov ecx, ebx
kputhexn_loop:
    rol edx, 4
    mov eax, edx
    and eax, 0xF
    mov al, byte ptr [hex_digits + eax]
    call kputc
    dec ecx
    jnz kputhexn_loop
    popad
    ret

; kputdec: eax = unsigned value
kputdec:
    push ecx
    xor ecx, ecx
    call kputdecw
    pop ecx
    ret

; kputdecw: eax = unsigned value, ecx = minimum width (zero padded)
kputdecw:
    pushad
    mov ebx, 10
    xor edi, edi
kputdecw_div:
    xor edx, edx
    div ebx
    push edx
    inc edi
    test eax, eax
    jnz kputdecw_div
kputdecw_pad:
    cmp edi, ecx
    jae kputdecw_out
    push 0
    inc edi
    jmp kputdecw_pad
kputdecw_out:
    pop eax
    add al, 0x30
    call kputc
    dec edi
    jnz kputdecw_out
    popad
    ret

hex_digits:
    .ascii "0123456789ABCDEF"
