"""Write the agreement benchmark's dev items of one side of the cross-encoder's seeded question
split (scripts/xenc_data.py) to a folder, as dev_pairs.jsonl and dev_sets.jsonl, so the product
itself can be measured on the questions the shipped model never saw:

    python scripts/xenc_split.py /tmp/xenc-val            # the 72 validation questions
    PYTHONPATH=src .venv/bin/drux eval agreement --data /tmp/xenc-val --backend cross

Pure Python (no torch); the held-out split is never read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xenc_data import DEFAULT_DATA, load_jsonl, load_questions, split_questions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0, help="train_cross_encoder.py's --split-seed")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--side", choices=("validation", "train"), default="validation")
    args = ap.parse_args()
    train, val = split_questions([q.qid for q in load_questions(args.data)], args.seed,
                                 args.val_share)
    keep = val if args.side == "validation" else train
    args.out.mkdir(parents=True, exist_ok=True)
    for task in ("pairs", "sets"):
        rows = [it for it in load_jsonl(args.data / f"dev_{task}.jsonl") if it["qid"] in keep]
        with (args.out / f"dev_{task}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        print(f"{task}: {len(rows)} items of {len(keep)} questions -> {args.out}")


if __name__ == "__main__":
    main()
