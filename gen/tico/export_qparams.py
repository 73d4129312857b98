#!/usr/bin/env python3
"""Write kiln's qparams.json from a model calibrated with TICO 0.3.0.

Two ways to use it (in the venv of `make tico-env`):

  * As a library, after your own TICO flow: prepare -> calibration -> convert,
        from export_qparams import write_qparams
        write_qparams(qmodel, "qparams.json", model_dir="path/to/hf-folder")
    writes every observer of qmodel.named_observers() (TICO's names, in its
    order) as kiln-qparams v1.

  * As a command, running TICO's own full-model flow (its
    calibrate_ptq_observers recipe: one prefill, then greedy decode steps on
    the cache, per sample) with kiln's presets:
        export_qparams.py MODEL_DIR --preset w8a16 --tokens ids.txt -o qparams.json
    --tokens holds one sample a line as token ids (BOS first), the same file
    kiln's --tokens takes; --text stories (split on <|endoftext|>) are
    encoded with the folder's tokenizer instead.

Then `gen/kiln gen MODEL_DIR --qparams qparams.json ...`. Needs torch,
transformers and tico; kiln itself needs none of them.
"""

import argparse
import hashlib
import json
import os
import sys

KILN_DTYPES = {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}


class _Number(str):
    """A number already formatted for JSON."""


def _f32(x):
    """The shortest decimal that reads back to the same float32 (numpy's float32 str)."""
    import numpy as np

    return _Number(str(np.float32(x)))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_digest(model_dir):
    """kiln's sha256 of a Hugging Face folder: of the list of its files' digests
    (config.json, then the safetensors files sorted), as gen/read/hf.lua has it."""
    names = ["config.json"]
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            names += sorted(set(json.load(f)["weight_map"].values()))
    else:
        names.append("model.safetensors")
    lines = "".join("%s  %s\n" % (_sha256(os.path.join(model_dir, n)), n) for n in names)
    return hashlib.sha256(lines.encode()).hexdigest()


def model_info(model_dir, dtype):
    """The qparams.json "model" object: what kiln checks the file against."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    heads = cfg["num_attention_heads"]
    hidden = cfg["hidden_size"]
    return {
        "file": os.path.basename(os.path.normpath(model_dir)),
        "sha256": folder_digest(model_dir),
        "arch": "llama",
        "hidden": hidden,
        "intermediate": cfg["intermediate_size"],
        "heads": heads,
        "kv_heads": cfg.get("num_key_value_heads") or heads,
        "head_dim": cfg.get("head_dim") or hidden // heads,
        "layers": cfg["num_hidden_layers"],
        "vocab": cfg["vocab_size"],
        "dtype": KILN_DTYPES.get(str(dtype), str(dtype)),
    }


def observer_entry(obs):
    """One observer as kiln reads it. A per-channel label without a channel axis
    (TICO's RMSNorm weights) is written per tensor, as TICO computes it."""
    scale, zero_point = obs.compute_qparams()
    per_channel = obs.channel_axis is not None
    qscheme = obs.qscheme.name.lower()
    if not per_channel:
        qscheme = qscheme.replace("per_channel", "per_tensor")

    def values(t, number):
        flat = [number(v) for v in t.detach().reshape(-1).tolist()]
        return flat if per_channel else flat[0]

    return {
        "dtype": str(obs.dtype),
        "qscheme": qscheme,
        "axis": obs.channel_axis if per_channel else None,
        "scale": values(scale, _f32),
        "zero_point": values(zero_point, int),
        "min": values(obs.min_val, _f32),
        "max": values(obs.max_val, _f32),
    }


def _json_value(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_json_value(x) for x in v) + "]"
    if isinstance(v, _Number):
        return str(v)
    return json.dumps(v)


def _object(d, indent):
    pad = " " * indent
    items = ['%s  %s: %s' % (pad, json.dumps(k), v) for k, v in d]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def write_qparams(qmodel, path, *, model_dir, calibration=None, dtype="torch.float32"):
    """Writes kiln-qparams v1 for a TICO-converted model (PTQWrapper or wrapped module)."""
    import importlib.metadata

    entries = []
    for name, obs in qmodel.named_observers():
        e = observer_entry(obs)
        entries.append((name, _object([(k, _json_value(v)) for k, v in e.items()], 4)))
    info = model_info(model_dir, dtype)
    cal = {"tool": "tico %s (gen/tico/export_qparams.py)" % importlib.metadata.version("tico"),
           "profile": "npu_export", "observer": "MinMaxObserver"}
    cal.update(calibration or {})
    text = _object([
        ("format", '"kiln-qparams"'),
        ("version", "1"),
        ("model", _object([(k, _json_value(v)) for k, v in info.items()], 2)),
        ("calibration", _object([(k, _json_value(v)) for k, v in cal.items()], 2)),
        ("observers", _object(entries, 2)),
    ], 0) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return len(entries)


def ptq_config(preset, layers):
    """kiln's presets as TICO 0.3.0 configurations (../shared/tico-golden/README.md)."""
    from tico.quantization.config.builders import build_llm_ptq_config
    from tico.quantization.config.ptq import PTQConfig
    from tico.quantization.config.specs import affine
    from tico.quantization.wrapq.dtypes import DType

    if preset == "w8a8":
        return PTQConfig()
    if preset == "w8a16":
        return build_llm_ptq_config(model_type="llama", num_hidden_layers=layers,
                                    activation=affine(DType.int(16)), weight=affine(DType.uint(8)),
                                    norm_weight=affine(DType.int(16)), profile="npu_export")
    raise SystemExit("export_qparams.py: --preset: w8a8 or w8a16")


def read_samples(args, model_dir):
    if args.tokens:
        with open(args.tokens) as f:
            lists = [[int(w) for w in line.split()] for line in f if line.strip()]
        return lists[: args.samples] if args.samples else lists, ("tokens", args.tokens)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    with open(args.text, encoding="utf-8") as f:
        stories = [s.strip() for s in f.read().split("\n<|endoftext|>\n") if s.strip()]
    stories = stories[: args.samples or 16]
    return [[tok.bos_token_id] + tok.encode(s, add_special_tokens=False) for s in stories], ("text", args.text)


def calibrate(qmodel, samples, decode_steps, max_tokens):
    """TICO's calibrate_ptq_observers: per sample a prefill on the cache, then greedy decode steps."""
    import torch

    qmodel.eval()
    with torch.no_grad():
        for ids in samples:
            inp = torch.tensor([ids[:max_tokens]])
            out = qmodel(input_ids=inp, use_cache=True, return_dict=True)
            past, nxt = out.past_key_values, out.logits[:, -1, :].argmax(dim=-1, keepdim=True)
            for _ in range(decode_steps):
                out = qmodel(input_ids=nxt, past_key_values=past, use_cache=True, return_dict=True)
                past, nxt = out.past_key_values, out.logits[:, -1, :].argmax(dim=-1, keepdim=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", help="Hugging Face folder (config.json, safetensors)")
    p.add_argument("--preset", default="w8a16", choices=["w8a8", "w8a16"])
    p.add_argument("--tokens", help="samples as token ids, one a line, BOS included")
    p.add_argument("--text", help="stories separated by <|endoftext|>, encoded with the folder's tokenizer")
    p.add_argument("--samples", type=int, default=0, help="first N samples (default: all of --tokens, 16 of --text)")
    p.add_argument("--decode-steps", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=0, help="prefill tokens per sample (default max_seq - decode steps)")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    if (args.tokens is None) == (args.text is None):
        raise SystemExit("export_qparams.py: give --tokens FILE or --text FILE")

    import torch
    import transformers
    from tico.quantization import convert, prepare

    model = transformers.AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    samples, source = read_samples(args, args.model_dir)
    max_tokens = args.max_tokens or (model.config.max_position_embeddings - args.decode_steps)
    qmodel = prepare(model, ptq_config(args.preset, model.config.num_hidden_layers))
    calibrate(qmodel, samples, args.decode_steps, max_tokens)
    qmodel = convert(qmodel)
    with open(source[1], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    n = write_qparams(qmodel, args.output, model_dir=args.model_dir, dtype=model.dtype, calibration={
        "preset": args.preset, source[0]: os.path.basename(source[1]), source[0] + "_sha256": digest,
        "samples": len(samples), "max_tokens": max_tokens, "decode_steps": args.decode_steps,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "attention_mask_fill_value": -120.0, "kv_cache": "untied",
    })
    print("export_qparams.py: %d observers -> %s" % (n, args.output), file=sys.stderr)


if __name__ == "__main__":
    main()
