"""JIT modules must hold code only: a data section (.eh_frame, .rodata, .data) could share a page with code and
leave the code non-executable under MCJIT's memory manager (a rare crash seen on entering fresh units)."""

import llvmlite.binding as llvm
import pytest

from backends.llvm.codegen import INTRINSICS, MODULE_HEADER, gen_unit
from dbt import Emulator
from dbt.guests import KERNELS, assemble

CODE_SECTIONS = {b".text", b".ltext", b".strtab", b".symtab", b".note.GNU-stack", None}


@pytest.mark.parametrize("opt", [0, 1])
def test_compiled_kernels_have_no_data_sections(opt):
    emu = Emulator(64, backend="llvm", llvm_opt=opt)
    code = b"".join(assemble(k.source) for k in KERNELS.values())
    emu.mem_map(0x10000, (len(code) + 0xFFF) & ~0xFFF)
    emu.mem_write(0x10000, code)
    eng = emu.engine
    nat = eng.native
    starts, pos = [], 0
    while pos < len(code):                      # every instruction boundary starts a unit
        starts.append(0x10000 + pos)
        pos += eng.decoder.decode(code[pos:pos + 15]).length
    for ip in starts:
        blk = eng.translate(ip)
        text, _ = gen_unit(blk.unit, "f", nat.layout, blk.ip, blk.ninsns)
        mod = llvm.parse_assembly(MODULE_HEADER.format(triple=nat.triple) + INTRINSICS + text)
        if opt:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt)
            pb = llvm.create_pass_builder(nat.tm, pto)
            pb.getModulePassManager().run(mod, pb)
        obj = llvm.ObjectFileRef.from_data(nat.tm.emit_object(mod))
        names = {s.name() for s in obj.sections() if s.size() or s.name() in (b".data", b".rodata")}
        assert names <= CODE_SECTIONS, f"unit at {ip:#x} has data sections {names - CODE_SECTIONS}"
