"""Counting rules, one small pure function per op type (after fvcore's handle table).

Conventions, stated once:
- ops: multiply-adds of convolutions and linear layers; one fused multiply-add counts as one op
  (as Table 1 and fvcore do). Bias additions, batch norm, pooling, LRN, ReLU, concatenation and a
  residual module's scale and addition count zero. A grouped conv's filters see in/groups channels.
- params, convention "paper": weights of convs and linear layers only (Table 1's convention).
- params, convention "full": everything the built model holds as parameters: weights, biases and
  batch norm's scale and shift (running statistics are buffers, not parameters).
- activations: elements of the op's output tensor, per image.
No torch here: this is arithmetic on the resolved shapes.
"""

from __future__ import annotations

from ..spec.resolve import ConvOp, DropoutOp, GlobalPoolOp, LinearOp, LRNOp, Op, PoolOp, ReLUOp, SplitOp

CONVENTIONS = ("paper", "full")


def conv_count(op: ConvOp, full: bool) -> tuple[int, int]:
    """(params, ops) of a convolution: weights x output positions multiply-adds."""
    weights = op.in_shape[0] // op.groups * op.kernel[0] * op.kernel[1] * op.out_channels
    out = op.out_shape
    params = weights + op.out_channels * (op.bias + 2 * op.batch_norm) if full else weights
    return params, weights * out[1] * out[2]


def linear_count(op: LinearOp, full: bool) -> tuple[int, int]:
    """(params, ops) of a linear layer: one multiply-add per weight."""
    weights = op.in_features * op.out_features
    return (weights + op.out_features if full and op.bias else weights), weights


def _nothing(op: Op, full: bool) -> tuple[int, int]:
    return 0, 0


def split_count(op: SplitOp, full: bool) -> tuple[int, int]:
    """(params, ops) of parallel sub-branches: theirs, summed."""
    params = ops = 0
    for branch in op.branches:
        for inner in branch.ops:
            p, o = count(inner, full)
            params += p
            ops += o
    return params, ops


# op type -> its (params, ops) handle
HANDLES = {
    ConvOp: conv_count,
    LinearOp: linear_count,
    PoolOp: _nothing,
    GlobalPoolOp: _nothing,
    LRNOp: _nothing,
    DropoutOp: _nothing,
    ReLUOp: _nothing,
    SplitOp: split_count,
}


def activations(op: Op) -> int:
    c, h, w = op.out_shape
    return c * h * w


def count(op: Op, full: bool) -> tuple[int, int]:
    """(params, ops) of one op."""
    return HANDLES[type(op)](op, full)
