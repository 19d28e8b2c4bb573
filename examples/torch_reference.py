#!/usr/bin/env python3
"""Computes with PyTorch what the torch plugin (plugins/torch) computes for a model folder.

    torch_reference.py MODEL_DIR --task TASK --input JSON [--input JSON ...]

TASK is text-classification, text-generation, image-classification or tensor (a
"torchscript." prefix is accepted). Each --input is JSON text, or @FILE to read it from a file;
one JSON line is printed per input, in order:

  text-classification   {"texts": ["bonjour", ...]}
                        -> {"scores": [[p, ...], ...]}      softmax, one row per text
  text-generation       {"prompt": "bon", "max_new_tokens": 32}
                        -> {"text": "...", "bytes": [...]}  greedy (temperature 0) only
  image-classification  {"image": {"shape": [h, w, c], "data": [0..255, ...]}}
                        -> {"scores": [p, ...]}
  tensor                {"input": {"dtype": "f32", "shape": [2, 3], "data": [...]}}
                        -> {"output": {"dtype": ..., "shape": [...], "data": [...]}}

It follows the plugin's contract (plugins/torch/README.md) step by step: the texts become a
[b, n'] int64 tensor of their UTF-8 bytes, zero-padded, n' = min(longest text, max_length) and
at least 1; generation feeds [bos] + prompt, the last `context` tokens per step, takes the argmax
of the last position (lowest index on ties) and stops at eos; an image is scaled to [0, 1],
gray replicated or alpha dropped, resized bilinearly (align_corners=False) to image_size, and
normalised with mean/std. One intra-op thread and inference mode, like the plugin.
"""
import argparse
import json
import os
import sys

import torch

DTYPES = {
    "f32": torch.float32, "f64": torch.float64, "i32": torch.int32, "i64": torch.int64,
    "u8": torch.uint8, "i8": torch.int8, "bool": torch.bool, "f16": torch.float16, "bf16": torch.bfloat16,
}
NAMES = {v: k for k, v in DTYPES.items()}


def fail(message):
    print(f"torch_reference.py: {message}", file=sys.stderr)
    sys.exit(1)


def read_config(model_dir):
    config = {}
    path = os.path.join(model_dir, "config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    weights = config.get("weights") or "model.pt"
    if "/" in weights or "\\" in weights or weights in (".", ".."):
        fail(f"config.json: \"weights\" must be a plain file name, got {weights!r}")
    return {
        "weights": weights,
        "max_length": int(config.get("max_length") or 64),
        "bos": config.get("bos"),
        "eos": config.get("eos"),
        "context": int(config.get("context") or 256),
        "image_size": config.get("image_size"),
        "mean": config.get("mean") or [0.0, 0.0, 0.0],
        "std": config.get("std") or [1.0, 1.0, 1.0],
    }


def classify_texts(model, config, request):
    texts = [t.encode("utf-8") for t in request["texts"]]
    if not texts:
        return {"scores": []}
    n = max(len(t) for t in texts)
    width = max(1, min(n, config["max_length"]))
    x = torch.zeros(len(texts), width, dtype=torch.int64)
    for row, t in enumerate(texts):
        t = t[:width]
        if t:
            x[row, :len(t)] = torch.tensor(list(t), dtype=torch.int64)
    logits = model(x)
    return {"scores": torch.softmax(logits.float(), -1).tolist()}


def generate(model, config, request):
    if float(request.get("temperature", 0)) != 0:
        fail("only greedy generation (temperature 0) is reproduced here")
    max_new = int(request.get("max_new_tokens", 32))
    tokens = ([config["bos"]] if config["bos"] is not None else []) + list(request["prompt"].encode("utf-8"))
    if not tokens:
        fail("the prompt is empty and the model has no bos")
    out = []
    for _ in range(max_new):
        window = tokens[-config["context"]:]
        y = model(torch.tensor([window], dtype=torch.int64))
        last = y[0, -1] if y.dim() == 3 else y[0]
        logits = last.float().tolist()
        best = 0
        for i, value in enumerate(logits):
            if value > logits[best]:
                best = i
        if config["eos"] is not None and best == config["eos"]:
            break
        out.append(best)
        tokens.append(best)
    data = bytes(out)
    return {"text": data.decode("utf-8", errors="replace"), "bytes": list(data)}


def classify_image(model, config, request):
    image = request["image"]
    h, w, c = image["shape"]
    if c not in (1, 3, 4):
        fail(f"an image has 1, 3 or 4 channels, got {c}")
    x = torch.tensor(image["data"], dtype=torch.uint8).reshape(h, w, c).to(torch.float32).div(255)
    if c == 1:
        x = x.expand(h, w, 3)
    if c == 4:
        x = x[:, :, :3]
    x = x.permute(2, 0, 1).unsqueeze(0).contiguous()
    size = config["image_size"]
    if size is not None and (size[0] != h or size[1] != w):
        x = torch.nn.functional.interpolate(x, size=(size[0], size[1]), mode="bilinear", align_corners=False)
    mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(config["std"], dtype=torch.float32).view(1, 3, 1, 1)
    x = (x - mean) / std
    logits = model(x)
    if logits.dim() == 2:
        logits = logits[0]
    return {"scores": torch.softmax(logits.float(), -1).tolist()}


def run_tensor(model, _config, request):
    spec = request["input"]
    x = torch.tensor(spec["data"], dtype=DTYPES[spec["dtype"]]).reshape(spec["shape"])
    y = model(x)
    if y.dtype not in NAMES:
        fail(f"the model returned dtype {y.dtype}")
    return {"output": {"dtype": NAMES[y.dtype], "shape": list(y.shape), "data": y.flatten().tolist()}}


TASKS = {
    "text-classification": classify_texts,
    "text-generation": generate,
    "image-classification": classify_image,
    "tensor": run_tensor,
}


def main():
    parser = argparse.ArgumentParser(description="What the torch plugin computes, computed with PyTorch.")
    parser.add_argument("model_dir", metavar="MODEL_DIR")
    parser.add_argument("--task", required=True, help="|".join(TASKS))
    parser.add_argument("--input", action="append", required=True, help="JSON text, or @FILE")
    args = parser.parse_args()
    task = args.task[len("torchscript."):] if args.task.startswith("torchscript.") else args.task
    if task not in TASKS:
        fail(f"unknown task {args.task!r}: one of {', '.join(TASKS)}")
    torch.set_num_threads(1)
    config = read_config(args.model_dir)
    model = torch.jit.load(os.path.join(args.model_dir, config["weights"]), map_location="cpu").eval()
    with torch.inference_mode():
        for text in args.input:
            if text.startswith("@"):
                with open(text[1:], encoding="utf-8") as f:
                    text = f.read()
            print(json.dumps(TASKS[task](model, config, json.loads(text))), flush=True)


if __name__ == "__main__":
    main()
