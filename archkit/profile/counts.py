"""Counting rules, one small pure function per op type (after fvcore's handle table).

Conventions, stated once:
- ops: multiply-adds of convolutions and linear layers; one fused multiply-add counts as one op
  (as Table 1 and fvcore do). Bias additions, batch norm, pooling, LRN and ReLU count zero.
- params, convention "paper": weights of convs and linear layers only (Table 1's convention).
- params, convention "full": everything the built model holds as parameters: weights, biases and
  batch norm's scale and shift (running statistics are buffers, not parameters).
- activations: elements of the op's output tensor, per image.
No torch here: this is arithmetic on the resolved shapes.
"""

from __future__ import annotations

from ..spec.resolve import ConvOp, DropoutOp, GlobalPoolOp, LinearOp, LRNOp, Op, PoolOp

CONVENTIONS = ("paper", "full")


def conv_weights(op: ConvOp) -> int:
    return op.in_shape[0] * op.kernel[0] * op.kernel[1] * op.out_channels


def conv_params(op: ConvOp, full: bool) -> int:
    n = conv_weights(op)
    if full:
        n += op.out_channels * (int(op.bias) + 2 * int(op.batch_norm))
    return n


def conv_ops(op: ConvOp) -> int:
    return conv_weights(op) * op.out_shape[1] * op.out_shape[2]


def linear_params(op: LinearOp, full: bool) -> int:
    return op.in_features * op.out_features + (op.out_features if full and op.bias else 0)


def linear_ops(op: LinearOp) -> int:
    return op.in_features * op.out_features


def _zero(op: Op, full: bool = False) -> int:
    return 0


# op type -> (params(op, full), ops(op))
HANDLES = {
    ConvOp: (conv_params, conv_ops),
    LinearOp: (linear_params, linear_ops),
    PoolOp: (_zero, _zero),
    GlobalPoolOp: (_zero, _zero),
    LRNOp: (_zero, _zero),
    DropoutOp: (_zero, _zero),
}


def activations(op: Op) -> int:
    c, h, w = op.out_shape
    return c * h * w


def count(op: Op, full: bool) -> tuple[int, int]:
    """(params, ops) of one op."""
    params, ops = HANDLES[type(op)]
    return params(op, full), ops(op)
