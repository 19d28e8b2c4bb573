#!/usr/bin/env python3
"""Writes tiny TorchScript model folders for the torch plugin's tests, in seconds, with fixed seeds.

    python3 examples/make_test_models.py --out DIR

makes, each with its README.md card and config.json:

  DIR/tensor-model/    forward(x) = x * 1.5 + 0.25 (f32 weights)                 task: tensor
  DIR/classifier/      a random byte-level text classifier, 3 labels,
                       max_length 16, invariant to extra padding               task: text-classification
  DIR/generator/       a random byte-level GRU generator, bos 2, eos 10,
                       context 12; it writes only a-z, "é" (0xC3 is always
                       followed by 0xA9) and the end token, which always
                       follows a "q"                                          task: text-generation
  DIR/generator-last/  the same generator returning only the last position,
                       logits [1, V]                                          task: text-generation
  DIR/image/           a tiny conv classifier, image_size [8, 8], mean/std,
                       3 labels                                               task: image-classification
  DIR/broken/          a card and a config, but model.pt is garbage bytes      task: text-classification

Debian's python3-torch (1.13) is all it needs. The models are random (they are for checking
that the plugin computes what examples/torch_reference.py computes, not for predicting anything).
"""
import argparse
import json
import os
import sys

import torch
from torch import nn


def write_folder(root, name, task, module, config, labels=None):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    if module is not None:
        torch.jit.save(torch.jit.script(module), os.path.join(folder, "model.pt"))
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    front = ["---", f"task: {task}", "format: torchscript", "license: mit"]
    if labels is not None:
        front.append("labels: [" + ", ".join(labels) + "]")
    front += ["tags: [test]", "---", ""]
    body = [f"# {name}", "", "A tiny random model made by examples/make_test_models.py for the torch plugin's tests.", ""]
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(front + body))
    return folder


class TensorModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.tensor(1.5, dtype=torch.float32))
        self.register_buffer("b", torch.tensor(0.25, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w + self.b


class TextClassifier(nn.Module):
    """Bytes -> embedding -> conv -> masked max over the text's bytes -> linear. Padding bytes (0)
    embed to zeros and are masked out, so extra padding never changes a text's scores."""

    def __init__(self, labels: int, dim: int = 16, hidden: int = 24):
        super().__init__()
        self.embed = nn.Embedding(256, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, hidden, 3, padding=1)
        self.out = nn.Linear(hidden, labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).unsqueeze(1).to(torch.float32)       # [b, 1, n]
        h = self.embed(x).transpose(1, 2)                     # [b, dim, n]
        h = torch.relu(self.conv(h)) * mask                   # [b, hidden, n], >= 0
        return self.out(h.max(dim=2).values)                  # [b, labels]


class Generator(nn.Module):
    """forward(x [1, t]) -> logits [1, t, 256], recomputed from scratch on each call."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(256, 16)
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.out = nn.Linear(32, 256)
        allowed = torch.full([256], -1e4)
        allowed[ord("a"):ord("z") + 1] = 0.0
        allowed[0xC3] = -1.0   # the lead byte of "é"
        allowed[10] = -3.0     # the end token
        after_lead = torch.full([256], -1e4)
        after_lead[0xA9] = 0.0  # 0xC3 is always followed by 0xA9
        after_q = torch.full([256], -1e4)
        after_q[10] = 0.0       # "q" always ends the text
        self.register_buffer("allowed", allowed)
        self.register_buffer("after_lead", after_lead)
        self.register_buffer("after_q", after_q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.embed(x))
        logits = self.out(h) * 4.0 + self.allowed
        logits = torch.where((x == 0xC3).unsqueeze(-1), self.after_lead, logits)
        logits = torch.where((x == ord("q")).unsqueeze(-1), self.after_q, logits)
        return logits


class LastPosition(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[:, -1, :]


class ImageClassifier(nn.Module):
    """forward(x [1, 3, 8, 8]) -> logits [1, 3]; any other size fails in the linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.out = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return self.out(h.flatten(1))


def main():
    parser = argparse.ArgumentParser(description="Write tiny TorchScript models for the torch plugin's tests.")
    parser.add_argument("--out", required=True, help="folder to write the model folders into")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    write_folder(args.out, "tensor-model", "tensor", TensorModel().eval(), {})

    torch.manual_seed(1)
    write_folder(args.out, "classifier", "text-classification", TextClassifier(3).eval(), {"max_length": 16},
                 labels=["alpha", "beta", "gamma"])

    torch.manual_seed(2)
    generator = Generator().eval()
    gen_config = {"bos": 2, "eos": 10, "context": 12}
    write_folder(args.out, "generator", "text-generation", generator, gen_config)
    write_folder(args.out, "generator-last", "text-generation", LastPosition(generator).eval(), gen_config)

    torch.manual_seed(3)
    write_folder(args.out, "image", "image-classification", ImageClassifier().eval(),
                 {"image_size": [8, 8], "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
                 labels=["red", "green", "blue"])

    broken = write_folder(args.out, "broken", "text-classification", None, {"max_length": 16},
                          labels=["alpha", "beta", "gamma"])
    with open(os.path.join(broken, "model.pt"), "wb") as f:
        f.write(b"this is not a TorchScript archive\n" * 8)

    print(f"wrote test models to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
