"""Folding PP-LCNetV3's affine blocks and hard-swish away changes no output, on a graph built by hand."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the OCR model fusion needs the onnx package (pip install onnx)")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

from scitune.sources.ocr.fuse import fuse


def constant(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name + "_v"))


def lcnet_block(pad_last: bool):
    """conv 3×3 → affine → hard-swish (four ops, as Paddle exports it) → affine → conv 1×1, opset 12."""
    rng = np.random.default_rng(0)
    nodes = [
        constant("w1", rng.normal(size=(4, 3, 3, 3))), constant("b1", rng.normal(size=4)),
        constant("w2", rng.normal(size=(5, 4, 1, 1))), constant("b2", rng.normal(size=5)),
        constant("a1", [1.5]), constant("c1", [-0.25]), constant("three", 3.0), constant("zero", 0.0),
        constant("six", 6.0), constant("six_", 6.0), constant("a2", [0.8]), constant("c2", [0.3]),
        helper.make_node("Conv", ["x", "w1", "b1"], ["conv1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["a1", "conv1"], ["scaled1"]),
        helper.make_node("Add", ["scaled1", "c1"], ["affine1"]),
        helper.make_node("Add", ["affine1", "three"], ["plus3"]),
        helper.make_node("Clip", ["plus3", "zero", "six"], ["clipped"]),
        helper.make_node("Mul", ["affine1", "clipped"], ["product"]),
        helper.make_node("Div", ["product", "six_"], ["swish"]),
        helper.make_node("Mul", ["a2", "swish"], ["scaled2"]),
        helper.make_node("Add", ["scaled2", "c2"], ["affine2"]),
        helper.make_node("Conv", ["affine2", "w2", "b2"], ["y"], pads=[1, 1, 1, 1] if pad_last else [0, 0, 0, 0]),
    ]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_affine_blocks_and_hard_swish_fold_into_three_ops_with_the_same_output():
    model = lcnet_block(pad_last=False)
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 8)).astype(np.float32) * 3  # past both hard-swish knees
    expected = run(model, x)
    done = fuse(model)
    assert [n.op_type for n in model.graph.node] == ["Conv", "HardSwish", "Conv"], done
    np.testing.assert_allclose(run(model, x), expected, rtol=1e-5, atol=1e-5)


def test_an_affine_block_before_a_padded_convolution_stays():
    """Its shift would also land on the zero padding: folding it would change the border pixels."""
    model = lcnet_block(pad_last=True)
    x = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    expected = run(model, x)
    fuse(model)
    assert [n.op_type for n in model.graph.node] == ["Conv", "HardSwish", "Mul", "Add", "Conv"]
    np.testing.assert_allclose(run(model, x), expected, rtol=1e-5, atol=1e-5)
