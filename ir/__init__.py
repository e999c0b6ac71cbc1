"""The IR: typed SSA ops declared once in ``ir.ops``; units, builder, text form, verifier and passes."""

from ir.builder import Builder
from ir.ops import OP, OpDef, Shape, Ty
from ir.text import ParseError, format_unit, parse_unit
from ir.unit import Field, Fields, Op, Unit
from ir.verify import VerifyError, verify

__all__ = ["Builder", "OP", "OpDef", "Shape", "Ty", "ParseError", "format_unit", "parse_unit", "Field", "Fields", "Op",
           "Unit", "VerifyError", "verify"]
