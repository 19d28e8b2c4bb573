#!/usr/bin/env python3
"""Trains word-lang: which language is a single word in? (en, fr, de, es, it)

    python3 examples/word-lang/train.py [--out DIR] [--quick] [--push OWNER/NAME]

Data: the word lists of Debian's wamerican, wfrench, wngerman, wspanish and witalian packages
(/usr/share/dict). Words made only of letters, lowercased, deduplicated; a word found in more
than one list is dropped (it says nothing about its language); then --per-language words per
language are sampled with a fixed seed, and 10% of them are held out to measure the accuracy.

Model: a byte-level classifier for the Potluck torch plugin's torchscript.text-classification
task. forward(x: int64 [b, n]) -> logits [b, 5], where x holds each word's UTF-8 bytes, 0 for
padding (the plugin truncates each text to max_length = 32 bytes). Bytes are embedded, two 1-D
convolutions read their neighbourhoods, and a max and a mean over the word's own bytes (padding
masked out, so a word scores the same whatever batch it is in) feed a linear layer.

Writes DIR (default ./word-lang-model): model.pt (torch.jit.script, torch.jit.save), config.json
and README.md (the model card). --push OWNER/NAME then runs `potluck models push DIR OWNER/NAME`
(the CLI reads POTLUCK_URL and POTLUCK_TOKEN from the environment).

Needs only Debian's python3-torch (1.13); no downloads.
"""
import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import time

import torch
from torch import nn

LANGUAGES = ["en", "fr", "de", "es", "it"]
WORD_LISTS = {"en": "american-english", "fr": "french", "de": "ngerman", "es": "spanish", "it": "italian"}
NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian"}
MAX_LENGTH = 32


class WordLang(nn.Module):
    def __init__(self, labels: int = 5, dim: int = 32, hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(256, dim, padding_idx=0)
        self.conv1 = nn.Conv1d(dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Linear(2 * hidden, labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).unsqueeze(1).to(torch.float32)            # [b, 1, n]
        h = self.embed(x).transpose(1, 2)                          # [b, dim, n]
        h = torch.relu(self.conv1(h)) * mask
        h = torch.relu(self.conv2(h)) * mask                       # [b, hidden, n], 0 on padding
        longest = h.max(dim=2).values
        mean = h.sum(dim=2) / mask.sum(dim=2).clamp(min=1.0)
        return self.out(torch.cat([longest, mean], dim=1))         # [b, labels]


def read_words(dict_dir):
    words = {}
    for lang in LANGUAGES:
        path = os.path.join(dict_dir, WORD_LISTS[lang])
        try:
            with open(path, encoding="utf-8") as f:
                words[lang] = {w for w in (line.strip().lower() for line in f) if w and w.isalpha()}
        except OSError as e:
            sys.exit(f"cannot read the {NAMES[lang]} word list {path}: {e.strerror} (apt install w{WORD_LISTS[lang].split('-')[-1]})")
    seen = collections.Counter(w for lang in LANGUAGES for w in words[lang])
    return {lang: sorted(w for w in words[lang] if seen[w] == 1) for lang in LANGUAGES}


def encode(words):
    x = torch.zeros(len(words), MAX_LENGTH, dtype=torch.int64)
    for i, w in enumerate(words):
        b = list(w.encode("utf-8"))[:MAX_LENGTH]
        x[i, :len(b)] = torch.tensor(b, dtype=torch.int64)
    return x


def accuracy(model, x, y, batch=2048):
    correct = 0
    per_lang = collections.Counter()
    with torch.inference_mode():
        for i in range(0, len(y), batch):
            pred = model(x[i:i + batch]).argmax(dim=1)
            hit = pred == y[i:i + batch]
            correct += int(hit.sum())
            for label, ok in zip(y[i:i + batch].tolist(), hit.tolist()):
                per_lang[label] += int(ok)
    counts = collections.Counter(y.tolist())
    return correct / len(y), {LANGUAGES[k]: per_lang[k] / counts[k] for k in sorted(counts)}


def write_card(out, args, stats):
    per_lang = ", ".join(f"{lang} {stats['per_language'][lang]:.1%}" for lang in LANGUAGES)
    card = f"""---
task: text-classification
format: torchscript
license: mit
labels: [{", ".join(LANGUAGES)}]
language: [{", ".join(LANGUAGES)}]
tags: [language-identification, byte-level, cnn, potluck-example]
---
# word-lang

Which language is a single word in: English, French, German, Spanish or Italian? A small
byte-level convolutional network ({stats['parameters']:,} parameters) for the Potluck torch plugin
(`torchscript.text-classification`). It reads the word's UTF-8 bytes (at most {MAX_LENGTH}) and
returns one probability per label, in the order of `labels`.

## Data

The word lists of Debian's `wamerican`, `wfrench`, `wngerman`, `wspanish` and `witalian`
packages: words of letters only, lowercased, deduplicated; words found in more than one list
are dropped. {args.per_language:,} words per language were sampled (seed {args.seed}) and 10% held
out. The lists are mostly dictionary forms and their inflections (the French, Spanish and
Italian lists have many verb forms, the English one some proper names).

## Accuracy

{stats['accuracy']:.1%} of the {stats['held_out']:,} held-out words ({per_lang}),
after {stats['epochs']} epochs ({stats['seconds']:.0f} s on {stats['threads']} CPU thread{"s" if stats['threads'] != 1 else ""}). Single words are
often ambiguous (short words, loanwords, names), so expect mistakes; it is a demo, not a
language identifier for sentences.

## Use

```sh
potluck run OWNER/NAME --input text=bonjour
curl -X POST http://127.0.0.1:8080/models/OWNER/NAME -d '{{"inputs":"bonjour"}}'
```

Trained with `examples/word-lang/train.py` from the Potluck repository. The weights are MIT
licensed; the word lists they were trained on are free software (see
/usr/share/doc/w*/copyright).
"""
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


def push(out, name, potluck):
    exe = potluck or shutil.which("potluck")
    if not exe:
        sys.exit("cannot push: no `potluck` on the PATH; give its path with --potluck")
    print(f"pushing {out} to {name} with {exe} models push", flush=True)
    try:
        rc = subprocess.run([exe, "models", "push", out, name]).returncode
    except OSError as e:
        sys.exit(f"cannot push: cannot run {exe}: {e.strerror}")
    if rc != 0:
        sys.exit(f"push failed: `{exe} models push {out} {name}` exited with status {rc} (its message is above)")


def main():
    p = argparse.ArgumentParser(description="Train word-lang, a word -> language classifier (en, fr, de, es, it).")
    p.add_argument("--out", default="./word-lang-model", help="folder to write (default ./word-lang-model)")
    p.add_argument("--quick", action="store_true", help="train for a few seconds (for tests; accuracy does not matter)")
    p.add_argument("--per-language", type=int, default=24000, help="words sampled per language (default 24000)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training words (default 10)")
    p.add_argument("--seed", type=int, default=1, help="seed of the sampling, the split and the weights")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all)")
    p.add_argument("--dict-dir", default="/usr/share/dict", help="where the word lists are")
    p.add_argument("--push", metavar="OWNER/NAME", help="then publish the folder with `potluck models push`")
    p.add_argument("--potluck", help="the potluck CLI to push with (default: potluck on the PATH)")
    args = p.parse_args()
    if args.quick:
        args.per_language, args.epochs = 400, 1

    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.time()

    words = read_words(args.dict_dir)
    train, test = [], []
    for label, lang in enumerate(LANGUAGES):
        if len(words[lang]) < args.per_language:
            sys.exit(f"the {NAMES[lang]} list has only {len(words[lang])} usable words; lower --per-language")
        sample = rng.sample(words[lang], args.per_language)
        held = len(sample) // 10
        test += [(w, label) for w in sample[:held]]
        train += [(w, label) for w in sample[held:]]
    rng.shuffle(train)
    x_train, y_train = encode([w for w, _ in train]), torch.tensor([l for _, l in train])
    x_test, y_test = encode([w for w, _ in test]), torch.tensor([l for _, l in test])
    print(f"{len(train)} training words, {len(test)} held out, {args.per_language} per language", flush=True)

    model = WordLang(len(LANGUAGES))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps_per_epoch = (len(train) + 127) // 128
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train))
        total = 0.0
        for i in range(0, len(train), 128):
            idx = order[i:i + 128]
            xb = x_train[idx]
            xb = xb[:, :max(1, int((xb != 0).sum(1).max()))]  # no all-padding columns
            loss = loss_fn(model(xb), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss) * len(idx)
        model.eval()
        acc, _ = accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(train):.3f}, held-out accuracy {acc:.1%} "
              f"({time.time() - started:.0f} s)", flush=True)

    model.eval()
    acc, per_lang = accuracy(model, x_test, y_test)
    seconds = time.time() - started
    os.makedirs(args.out, exist_ok=True)
    torch.jit.save(torch.jit.script(model), os.path.join(args.out, "model.pt"))
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"max_length": MAX_LENGTH}, f)
        f.write("\n")
    stats = {"accuracy": acc, "per_language": per_lang, "held_out": len(test), "epochs": args.epochs,
             "seconds": seconds, "threads": torch.get_num_threads(),
             "parameters": sum(p.numel() for p in model.parameters())}
    write_card(args.out, args, stats)
    print(f"held-out accuracy {acc:.1%} ({', '.join(f'{k} {v:.1%}' for k, v in per_lang.items())}); "
          f"trained in {seconds:.0f} s; wrote {args.out}", flush=True)
    if args.push:
        push(args.out, args.push, args.potluck)


if __name__ == "__main__":
    main()
