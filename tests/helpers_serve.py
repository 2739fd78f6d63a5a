"""An exported model directory for the model server's tests, made here without the export stage.

`export_tiny_bert(directory, head)`: a tiny transformers BertForMaskedLM (the sample vocab,
2 layers, hidden 32, weights drawn wider than BERT's 0.02 so the MLM head's distribution is not
flat) exported with torch.onnx's dynamo exporter to the export stage's layout: model.onnx
(inputs input_ids, attention_mask, token_type_ids; outputs last_hidden_state and, for head
"mlm", logits; dynamic batch and sequence axes), model.int8.onnx (ONNX Runtime's dynamic
quantization), tokenizer.json, config.json and manifest.json. Returns the torch model, for the
reference answers.

`export_with_the_stage(directory)`: the same tiny BERT saved as a transformers model directory
and exported by the serve_export stage itself, as a pipeline run exports its student.
"""

import json
import pathlib
import shutil

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
VOCAB = REPO_ROOT / "data" / "sample" / "vocab.txt"
MAX_POSITIONS = 64


def tiny_bert(directory, seed=0):
    """The tiny BertForMaskedLM with its tokenizer files and config.json in `directory`."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab=str(VOCAB), do_lower_case=True, tokenize_chinese_chars=True)
    tokenizer.save_pretrained(directory)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=MAX_POSITIONS, initializer_range=0.2)
    torch.manual_seed(seed)
    model = BertForMaskedLM(config).eval()
    config.save_pretrained(directory)
    return model


def export_with_the_stage(directory, seed=0):
    """(the export directory, the torch model): the tiny BERT saved in `directory`/model and
    exported into `directory`/export by the serve_export stage (MLM head, int8, checked on
    synthetic sequences, not timed)."""
    from components.serve_export.arguments import ServeExportArguments
    from components.serve_export.run import run_serve_export

    directory = pathlib.Path(directory)
    model = tiny_bert(directory / "model", seed)
    model.save_pretrained(directory / "model")
    shutil.copyfile(VOCAB, directory / "model" / "vocab.txt")  # as the distill stage's output
    run_serve_export(ServeExportArguments(
        model_dir=str(directory / "model"), output_dir=str(directory / "export"),
        quantize="int8", min_int8_agreement=0.0, max_parity_examples=8, latency_runs=0))
    return directory / "export", model


def export_tiny_bert(directory, head="mlm", seed=0):
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    directory = pathlib.Path(directory)
    model = tiny_bert(directory, seed)

    model.set_attn_implementation("eager")  # as the export stage exports it

    class Exported(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state
            return (hidden, model.cls(hidden)) if head == "mlm" else hidden

    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = ["last_hidden_state", "logits"] if head == "mlm" else ["last_hidden_state"]
    # torch.onnx's dynamo exporter, as the export stage: distinct example tensors (one tensor
    # passed twice becomes one graph input), sizes above 1 (torch.export specialises 0 and 1).
    example = tuple(torch.full((2, 8), value, dtype=torch.long) for value in (1, 1, 0))
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=MAX_POSITIONS)
    axes = {name: {0: batch, 1: sequence} for name in inputs}
    with torch.no_grad():
        program = torch.onnx.export(Exported().eval(), example, input_names=inputs,
                                    output_names=outputs, dynamic_shapes=axes, dynamo=True,
                                    external_data=False, verbose=False)
    program.save(str(directory / "model.onnx"), external_data=False)
    quantize_dynamic(str(directory / "model.onnx"), str(directory / "model.int8.onnx"),
                     weight_type=QuantType.QInt8)
    (directory / "manifest.json").write_text(json.dumps({"head": head}))
    return model


def torch_reference(model, tokenizer_dir, texts):
    """(last hidden state, logits, attention mask) of the torch model, padded as the server
    pads (to the longest text)."""
    import torch
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(str(tokenizer_dir))
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    return (out.hidden_states[-1].numpy(), out.logits.numpy(),
            batch["attention_mask"].numpy(), batch["input_ids"].numpy())
