"""The reference any-order model, MOSTLY AI's TabularARGN (``mostlyai-engine``), on rows
that ``benchmarks/autoregressive.py --peer-python`` hands it (issue #15).

Run only by that benchmark, with the Python of a separate virtual environment that has
``mostlyai-engine`` (never a clicksynth dependency)::

    PEER/bin/python benchmarks/peer_tabularargn.py TRAIN.parquet OUT_DIR SEED N_NEG N_POS CLICKS [MINUTES]

Every column is given to the engine as a categorical (as the clicksynth schema declares
them; the list column as its whole caret string), the click label included. The engine
trains at its defaults (its own early stopping, value protection on), capped at MINUTES
if given; rare categories are replaced by a draw from the non-rare ones (its ``sample``
method) so that no placeholder token reaches the scorecard. Rows of each class are drawn
by seeding the label column, as clicksynth samples exact class counts. Writes
``rows.parquet`` (N_NEG + N_POS rows), ``clicks.parquet`` (CLICKS click rows) and
``times.json`` (seconds: ``fit_s``, ``rows_s``, ``clicks_s``); the engine's progress goes
to the terminal.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mostlyai.engine import TabularARGN, set_random_state
from mostlyai.engine.domain import RareCategoryReplacementMethod

LABEL = "label"


def _seed(labels: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({LABEL: labels.astype(str)})


def main() -> None:
    train_path, out_dir, seed, n_neg, n_pos, clicks = sys.argv[1:7]
    minutes = float(sys.argv[7]) if len(sys.argv) > 7 else 14400.0  # the engine's own default: ten days
    out = Path(out_dir)
    # Strings throughout: the engine then models each column's values as categories.
    train = pd.read_parquet(train_path).astype("string")
    set_random_state(int(seed))
    model = TabularARGN(
        max_training_time=minutes,
        tgt_encoding_types=dict.fromkeys(train.columns, "TABULAR_CATEGORICAL"),
        device="cpu",
        random_state=int(seed),
        verbose=1,  # per-epoch progress on stderr, which the benchmark passes through
    )
    times = {}
    t = time.perf_counter()
    model.fit(train)
    times["fit_s"] = time.perf_counter() - t
    rare = RareCategoryReplacementMethod.sample
    labels = np.random.default_rng(int(seed)).permutation(np.r_[np.zeros(int(n_neg), int), np.ones(int(n_pos), int)])
    t = time.perf_counter()
    rows = model.sample(seed_data=_seed(labels), rare_category_replacement_method=rare)
    times["rows_s"] = time.perf_counter() - t
    rows.to_parquet(out / "rows.parquet")
    t = time.perf_counter()
    click_rows = model.sample(seed_data=_seed(np.ones(int(clicks), int)), rare_category_replacement_method=rare)
    times["clicks_s"] = time.perf_counter() - t
    click_rows.to_parquet(out / "clicks.parquet")
    (out / "times.json").write_text(json.dumps(times))


if __name__ == "__main__":
    main()
