; Kernel variables (in the image, so they start as written here).

.align 4
mb_magic:       .long 0
mb_info:        .long 0
cmdline_args:   .long 0
has_pse:        .long 0
next_frame:     .long FRAME_POOL
ticks:          .long 0
spurious:       .long 0
current:        .long 0
live_tasks:     .long 0
turn:           .long 0
preemptions:    .long 0
rtc_now:        .fill 8, 1, 0
rtc_check:      .fill 8, 1, 0
cmdline_buf:    .fill 256, 1, 0
