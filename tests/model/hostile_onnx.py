"""Tiny ONNX files that carry dfembed's contract but misbehave, built with ``onnx.helper``.

Every graph starts as the stand-in export of ``tests/model/test_exported.py``: ``image`` uint8
``(n, S, S, 3)`` → ``embedding`` = each channel's mean / 255 ``(n, 3)``, ``p_fake`` = the mean of
the three ``(n,)``; so a black crop has the embedding ``(0, 0, 0)`` and P(fake) 0, and what each
variant changes is known by hand:

* ``score_add``: P(fake) + a constant (``nan`` → NaN, ``8.0`` on a black crop → 8.0);
* ``embedding_add``: the embedding + a constant (``inf`` → infinite embeddings);
* ``score_reshape``: P(fake) reshaped to this fixed shape (a batch of another size fails in ONNX Runtime);
* ``unknown_op``: a node of an operator ONNX Runtime does not have (loading fails);
* ``side``/``width``: what the contract and the declared shapes claim (``side`` 20000: a 20000×20000 input);
* ``batch``: the input's batch dimension (a number: a fixed batch);
* ``score_dims``: the declared shape of ``p_fake``.
"""

from __future__ import annotations

from pathlib import Path

from dfembed.model.contract import ExportContract

SIDE = 8


def hostile_onnx(
    path: Path, *, side: int = SIDE, width: int = 3, batch: str | int = "n", score_dims: tuple = ("n",),
    score_add: float | None = None, embedding_add: float | None = None, score_reshape: list[int] | None = None,
    unknown_op: bool = False,
) -> Path:
    """Write a contract-carrying ONNX file with the misbehaviour asked for (see the module docstring)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["pixels", "scale"], ["unit"]),
        helper.make_node("ReduceMean", ["unit"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("ReduceMean", ["mean"], ["score"], axes=[1], keepdims=0),
    ]
    constants = [helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0])]
    embedding, score = _add(nodes, constants, "mean", embedding_add, "embedding"), "score"
    score = _add(nodes, constants, score, score_add, "score_added")
    if score_reshape is not None:
        constants.append(helper.make_tensor("fixed", TensorProto.INT64, [len(score_reshape)], score_reshape))
        nodes.append(helper.make_node("Reshape", [score, "fixed"], ["score_reshaped"]))
        score = "score_reshaped"
    if unknown_op:
        nodes.append(helper.make_node("NoSuchOperator", [score], ["score_unknown"]))
        score = "score_unknown"
    nodes.append(helper.make_node("Identity", [score], ["p_fake"]))
    if embedding != "embedding":
        nodes.append(helper.make_node("Identity", [embedding], ["embedding"]))
    graph = helper.make_graph(
        nodes, "hostile",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [batch, side, side, 3])],
        [helper.make_tensor_value_info("p_fake", TensorProto.FLOAT, list(score_dims)),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", width])],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    contract = ExportContract("onnx", side, width, "b0", "linear", {"real": 0, "fake": 1},
                              {"size": 80, "detector": "blazeface"}, {"name": "blazeface"})
    entry = model.metadata_props.add()
    entry.key, entry.value = "dfembed", contract.dumps()
    path.write_bytes(model.SerializeToString())
    return path


def _add(nodes: list, constants: list, name: str, value: float | None, out: str) -> str:
    """``name + value`` as a new tensor ``out`` when ``value`` is given; else ``name`` itself."""
    from onnx import TensorProto, helper

    if value is None:
        return name
    constants.append(helper.make_tensor(f"{out}_constant", TensorProto.FLOAT, [], [value]))
    nodes.append(helper.make_node("Add", [name, f"{out}_constant"], [out]))
    return out

