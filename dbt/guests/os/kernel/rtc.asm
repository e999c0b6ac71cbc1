; The CMOS real-time clock: wait for UIP to clear, read until two reads agree, convert BCD and 12-hour values.

; rtc_reg: al = register; returns al = value
rtc_reg:
    out 0x70, al
    in al, 0x71
    ret

; rtc_snapshot: edi = 6-byte buffer <- seconds, minutes, hours, day, month, year (raw)
rtc_snapshot:
    pushad
rtc_snapshot_uip:
    mov al, 0x0A
    call rtc_reg
    test al, 0x80
    jnz rtc_snapshot_uip
    mov esi, rtc_regs
    mov ecx, 6
rtc_snapshot_next:
    mov al, byte ptr [esi]
    call rtc_reg
    mov byte ptr [edi], al
    inc esi
    inc edi
    dec ecx
    jnz rtc_snapshot_next
    popad
    ret

; rtc_bcd: al = BCD byte; returns al = binary
rtc_bcd:
    push ecx
    movzx ecx, al
    shr ecx, 4
    and al, 0x0F
    imul ecx, ecx, 10
    add al, cl
    pop ecx
    ret

rtc_report:
    pushad
rtc_report_read:
    mov edi, rtc_now
    call rtc_snapshot
    mov edi, rtc_check
    call rtc_snapshot
    mov eax, dword ptr [rtc_now]
    cmp eax, dword ptr [rtc_check]
    jne rtc_report_read
    mov ax, word ptr [rtc_now + 4]
    cmp ax, word ptr [rtc_check + 4]
    jne rtc_report_read
    mov al, 0x0B
    call rtc_reg
    mov bl, al                          ; status register B: bit 2 = binary, bit 1 = 24-hour
    mov bh, byte ptr [rtc_now + 2]
    and bh, 0x80                        ; PM flag of the 12-hour format
    and byte ptr [rtc_now + 2], 0x7F
    test bl, 4
    jnz rtc_report_binary
    mov esi, rtc_now
    mov ecx, 6
rtc_report_bcd:
    mov al, byte ptr [esi]
    call rtc_bcd
    mov byte ptr [esi], al
    inc esi
    dec ecx
    jnz rtc_report_bcd
rtc_report_binary:
    test bl, 2
    jnz rtc_report_print
    movzx eax, byte ptr [rtc_now + 2]   ; 12-hour: 12 AM is 0, PM adds 12
    cmp eax, 12
    jne rtc_report_12
    xor eax, eax
rtc_report_12:
    test bh, bh
    jz rtc_report_am
    add eax, 12
rtc_report_am:
    mov byte ptr [rtc_now + 2], al
rtc_report_print:
    mov esi, s_rtc
    call kputs
    movzx eax, byte ptr [rtc_now + 5]
    add eax, 2000
    mov ecx, 4
    call kputdecw
    mov ecx, 2
    mov al, 0x2D
    call kputc
    movzx eax, byte ptr [rtc_now + 4]
    call kputdecw
    mov al, 0x2D
    call kputc
    movzx eax, byte ptr [rtc_now + 3]
    call kputdecw
    mov al, 0x20
    call kputc
    movzx eax, byte ptr [rtc_now + 2]
    call kputdecw
    mov al, 0x3A
    call kputc
    movzx eax, byte ptr [rtc_now + 1]
    call kputdecw
    mov al, 0x3A
    call kputc
    movzx eax, byte ptr [rtc_now]
    call kputdecw
    call kputnl
    popad
    ret

rtc_regs:   .byte 0x00, 0x02, 0x04, 0x07, 0x08, 0x09
s_rtc:      .asciz "time: rtc "
