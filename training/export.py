"""Export a trained cross-encoder to ONNX and int8-quantise it as the query encoder is quantised.

``torch.onnx.export`` (opset 17, dynamic batch and length; inputs ``input_ids``, ``attention_mask``,
``token_type_ids``; output ``logits`` of shape (batch, 1)), then onnxruntime's ``quantize_dynamic``
on the MatMul weights, per output channel (``assistant.embedding.quantize_onnx``). Prints the
sha256 to put in ``assistant.crossencoder.MODELS`` and checks the int8 logits against torch's.

    python -m training.export --model /tmp/relevance-model --out assistant/models/relevance-minilm-l6-int8.onnx
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path


def export(model_dir: Path, out: Path) -> dict[str, object]:
    """Write the int8 ONNX file to ``out``; returns its sha256, size and agreement with torch."""
    import numpy as np
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assistant.crossencoder import MODELS_DIR, TOKENIZER, CrossEncoder, ModelFile, sha256_of

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    sample = tokenizer(["an example query"], ["an example passage about something"], return_tensors="pt")
    axes = {name: {0: "b", 1: "s"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(
                Logits(),
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "b"}},
                opset_version=17,
                dynamo=False,
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True
        )
        quantize_embeddings(out)
    digest = sha256_of(out)
    pairs = [
        (
            "sparse attention for long documents",
            "Longformer. We introduce an attention pattern that scales linearly with sequence length.",
        ),
        ("protein folding", "A study of traffic in large cities."),
    ]
    folder = out.parent
    if not (folder / TOKENIZER[0]).is_file():  # the base model's tokenizer, as shipped beside the models
        shutil.copy(MODELS_DIR / TOKENIZER[0], folder / TOKENIZER[0])
    spec = ModelFile("check", out.name, digest, 160)
    onnx_logits = CrossEncoder(spec, folder).logits(pairs)
    with torch.no_grad():
        enc = tokenizer(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            padding=True,
            truncation=True,
            max_length=160,
            return_tensors="pt",
        )
        torch_logits = model(**enc).logits[:, 0].numpy()
    return {
        "file": str(out),
        "sha256": digest,
        "bytes": out.stat().st_size,
        "max_abs_logit_diff_int8_vs_torch": float(np.abs(onnx_logits - torch_logits).max()),
    }


def quantize_embeddings(path: Path) -> None:
    """Store the word-embedding table (30,522 x 384: 47 of the 59 MB left after MatMul quantisation)
    as int8 with one symmetric scale per row: its ``Gather`` becomes Gather(int8) -> Cast -> Mul by the
    row's gathered scale. onnxruntime's ``quantize_dynamic`` on ``Gather`` would use one scale for the
    whole table; per row loses almost nothing (logits checked against torch by ``export``)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    for node in list(model.graph.node):
        if node.op_type != "Gather" or node.input[0] not in inits:
            continue
        weight = numpy_helper.to_array(inits[node.input[0]])
        if weight.ndim != 2 or weight.size < 1_000_000:
            continue
        scale = (np.abs(weight).max(axis=1, keepdims=True) / 127.0).astype(np.float32)
        scale[scale == 0] = 1.0
        table = np.clip(np.round(weight / scale), -127, 127).astype(np.int8)
        name, ids, out = node.input[0], node.input[1], node.output[0]
        model.graph.initializer.remove(inits[name])
        model.graph.initializer.extend(
            [numpy_helper.from_array(table, f"{name}_int8"), numpy_helper.from_array(scale, f"{name}_scale")]
        )
        at = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        replacement = [
            helper.make_node("Gather", [f"{name}_int8", ids], [f"{out}_int8"], axis=0),
            helper.make_node("Cast", [f"{out}_int8"], [f"{out}_float"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [f"{name}_scale", ids], [f"{out}_scale"], axis=0),
            helper.make_node("Mul", [f"{out}_float", f"{out}_scale"], [out]),
        ]
        for offset, new in enumerate(replacement):
            model.graph.node.insert(at + offset, new)
    onnx.save(model, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(export(args.model, args.out), indent=1))


if __name__ == "__main__":
    main()
