"""Quality sweep behind the CTGAN / TVAE defaults: fit one model under several
settings and generator seeds on the rows of ``benchmarks/neural.py`` and print the
scorecard's headline figures, one line per (setting, seed).

    .venv/bin/python -u benchmarks/neural_sweep.py tvae \\
        --settings '{"max_categories": 50}' '{"max_categories": 32}' '{"max_categories": 20}' --seeds 0 1 2
    .venv/bin/python -u benchmarks/neural_sweep.py ctgan --seeds 0 1 --settings \\
        '{"max_categories": 50, "generator_dim": [256, 256], "embedding_dim": 128}' \\
        '{"max_categories": 20, "generator_dim": [256, 256], "embedding_dim": 128}' \\
        '{"max_categories": 20, "generator_dim": [128, 128], "embedding_dim": 128}' \\
        '{"max_categories": 20, "generator_dim": [128, 128], "embedding_dim": 64}'

Rows and scores are those of ``neural.py`` (same split, same metrics); only the
generator's seed and settings vary. Fit seconds are printed for orientation only:
quality runs are often run beside other work, so time them with ``neural.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import neural

from clicksynth import get_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["ctgan", "tvae"])
    parser.add_argument("--settings", nargs="+", default=["{}"], help="JSON objects of generator parameters")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    settings = []
    for text in args.settings:
        params = json.loads(text)
        settings.append({k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    train, hold, test, schema = neural._rows(args.rows, 0)
    X, y = train.drop(columns=["label", "uid"]), train["label"]
    for seed in args.seeds:
        for params in settings:
            gen = get_generator(args.model, epochs=args.epochs, batch_size=args.batch_size, random_state=seed, **params)
            t0 = time.perf_counter()
            gen.fit(X, y, schema=schema.drop(["label", "uid"]))
            fit_s = time.perf_counter() - t0
            scores = neural._scores(train, gen.sample(len(train)), hold, test, schema)
            print(
                f"{args.model} {params} seed {seed}: width {gen.transform_.width}, fit {fit_s:.1f} s, "
                + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
