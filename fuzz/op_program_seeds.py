#!/usr/bin/env python3
"""Writes the seed corpus of //fuzz:op_program_fuzz_test (fuzz/corpus/op_program/).

    python3 fuzz/op_program_seeds.py fuzz/corpus/op_program

Each seed is a small program in the byte format testing::OpProgramFromBytes decodes
(testing/op_program.cc, "Decoding from bytes"): one byte for the step count, then per step a kind
byte and either a leaf (rank, dims, dtype, raw-bits flag, element bytes) or an op's arguments
(a, b, ints, ints2, keepdims). Most seeds are valid, so the fuzzer starts from programs that
trace and run; a few fail eagerly (at trace time or at run time) on purpose.
"""

import os
import struct
import sys

# OpKind (testing/op_program.h), in order.
KINDS = [
    "Input", "Neg", "Abs", "Relu", "Sigmoid", "Tanh", "Softplus", "Gelu", "Exp",
    "Add", "Sub", "Mul", "Div", "Maximum", "Minimum", "SelectGreater",
    "Sum", "Mean", "Max", "LogSumExp", "Softmax", "LogSoftmax", "Transpose", "Reshape",
    "MatMul", "Concat", "Slice", "Gather",
]
# Indices into LeafFromBytes's dtype table.
DTYPES = {"f32": 0, "f64": 3, "i64": 4, "i32": 5, "bool": 6}


class Program:
    """Builds the bytes of one program, step by step."""

    def __init__(self):
        self.body = []
        self.steps = 0

    def _step(self, kind):
        self.body.append(KINDS.index(kind))
        self.steps += 1
        return self.steps - 1

    def leaf(self, dims, dtype="f32", values=None, raw=None):
        """A leaf: values are int8s (floats read v / 16, ints v % 6, bools v & 1); raw is bytes."""
        v = self._step("Input")
        self.body += [len(dims)] + list(dims) + [DTYPES[dtype]]
        if raw is not None:
            self.body += [0] + list(raw)
            return v
        count = 1
        for d in dims:
            count *= d
        values = values if values is not None else [(7 * i + 3) % 41 - 20 for i in range(count)]
        self.body += [1] + [x & 0xFF for x in values]
        return v

    def op(self, kind, a, b=0, ints=(), ints2=(), keepdims=False):
        v = self._step(kind)
        self.body += [a, b, len(ints)] + [x & 0xFF for x in ints]
        self.body += [len(ints2)] + [x & 0xFF for x in ints2] + [int(keepdims)]
        return v

    def bytes(self):
        assert 1 <= self.steps <= 12, self.steps
        return bytes([self.steps - 1] + self.body)


def f32_bits(*xs):
    return b"".join(struct.pack("<f", x) for x in xs)


def seeds():
    out = {}

    p = Program()
    x = p.leaf([2, 3])
    for kind in ["Neg", "Abs", "Relu", "Sigmoid", "Tanh", "Softplus", "Gelu", "Exp"]:
        x = p.op(kind, x)
    out["unary_chain"] = p

    p = Program()
    x, y = p.leaf([2, 3]), p.leaf([3])
    for kind in ["Add", "Sub", "Mul", "Div", "Maximum", "Minimum", "SelectGreater"]:
        p.op(kind, x, y)
    out["binary_broadcast"] = p

    p = Program()
    x = p.leaf([2, 3, 2], "f64")
    p.op("Sum", x, ints=[1])
    p.op("Mean", x, ints=[0, 2], keepdims=True)
    p.op("Max", x, ints=[-1])
    p.op("LogSumExp", x, ints=[1], keepdims=True)
    out["reductions_f64"] = p

    p = Program()
    x = p.leaf([3, 3])
    s = p.op("Softmax", x, ints=[1])
    t = p.op("LogSoftmax", x, ints=[0])
    p.op("Add", s, t)
    out["softmax"] = p

    p = Program()
    x = p.leaf([2, 3])
    t = p.op("Transpose", x, ints=[1, 0])
    r = p.op("Reshape", t, ints=[3, 2])
    p.op("MatMul", x, r)
    out["transpose_reshape_matmul"] = p

    p = Program()
    x, y = p.leaf([2, 3]), p.leaf([1, 3])
    c = p.op("Concat", x, y, ints=[0])
    p.op("Slice", c, ints=[1, 0], ints2=[2, 2])
    out["concat_slice"] = p

    p = Program()
    x, i = p.leaf([3, 2]), p.leaf([2], "i64", values=[2, 0])
    g = p.op("Gather", x, i, ints=[0])
    p.op("Tanh", g)
    out["gather"] = p

    p = Program()  # fails at run time: index 5 into 3 rows
    x, i = p.leaf([3, 2]), p.leaf([2], "i64", values=[1, 5])
    p.op("Gather", x, i, ints=[0])
    out["gather_out_of_range"] = p

    p = Program()  # fails at trace time: [2, 3] + [2]
    x, y = p.leaf([2, 3]), p.leaf([2])
    p.op("Add", x, y)
    out["add_mismatch"] = p

    p = Program()  # NaN (with a payload), -0.0, infinities, a subnormal
    nan = struct.unpack("<f", struct.pack("<I", 0x7FC01234))[0]
    x = p.leaf([2, 3], raw=f32_bits(nan, -0.0, float("inf"), -float("inf"), 1e-40, 1.5))
    m = p.op("Max", x, ints=[1])
    n = p.op("Neg", x)
    p.op("Maximum", n, x)
    p.op("Sum", m, ints=[0])
    out["nan_inf_bits"] = p

    p = Program()  # repeats: work for common-subexpression elimination
    x = p.leaf([2, 2], "f64")
    e1, e2 = p.op("Exp", x), p.op("Exp", x)
    s1, s2 = p.op("Softmax", e1, ints=[0]), p.op("Softmax", e2, ints=[1])
    p.op("Add", s1, s2)
    out["repeats_cse"] = p

    p = Program()  # (x + y) + z rounds differently from x + (y + z): a reassociating pass shows
    x = p.leaf([2], raw=f32_bits(1.0, 1e8))
    y = p.leaf([2], raw=f32_bits(2.0**-24, -1e8))
    z = p.leaf([2], raw=f32_bits(2.0**-24, 1.0))
    p.op("Add", p.op("Add", x, y), z)
    out["sum_rounding"] = p

    p = Program()
    x, y = p.leaf([2, 2], "i32"), p.leaf([2], "i32")
    a = p.op("Add", x, y)
    p.op("Sum", a, ints=[0])
    out["int32_arithmetic"] = p

    p = Program()  # fails at trace time: SelectGreater takes no bool operand
    x, b = p.leaf([3]), p.leaf([3], "bool", values=[1, 0, 1])
    p.op("SelectGreater", x, b)
    out["bool_operand"] = p

    p = Program()
    x = p.leaf([0, 3])
    s = p.op("Sum", x, ints=[0])
    p.op("Softmax", x, ints=[1])
    p.op("Exp", s)
    out["zero_size"] = p

    p = Program()  # 0 / 0 and x / 0
    x, z = p.leaf([3], values=[16, 0, -8]), p.leaf([1], values=[0])
    q = p.op("Div", x, z)
    p.op("Relu", q)
    out["divide_by_zero"] = p

    p = Program()
    x, w = p.leaf([2, 3]), p.leaf([3, 3])
    h = p.op("MatMul", x, w)
    h = p.op("Gelu", h)
    h2 = p.op("MatMul", h, w)
    s = p.op("Sub", h2, x)
    l = p.op("LogSoftmax", s, ints=[-1])
    m = p.op("Mean", l, ints=[0, 1])
    p.op("Mul", m, m)
    p.op("Softplus", m)
    out["mixed_long"] = p

    p = Program()  # integers only: the gradient check has nothing to differentiate
    i = p.leaf([2, 2], "i64")
    p.op("Neg", i)
    out["int64_only"] = p

    p = Program()
    x = p.leaf([2, 3])
    p.op("Transpose", x, ints=[0, 0])  # not a permutation
    out["transpose_bad_perm"] = p

    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: op_program_seeds.py OUT_DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, program in sorted(seeds().items()):
        with open(os.path.join(sys.argv[1], name), "wb") as f:
            f.write(program.bytes())
    with open(os.path.join(sys.argv[1], "empty"), "wb"):
        pass


if __name__ == "__main__":
    main()
