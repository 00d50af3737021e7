"""CTGAN's conditional vectors: "training-by-sampling" (Xu et al. 2019, section 4.3)
with the click label always part of the condition.

A label is drawn (clicks as often as non-clicks), then a categorical column
uniformly, then one of its categories with probability proportional to log
frequency *within that label*, and real rows are drawn from that (label, column,
category) group. Generation conditions use the real frequencies instead.
"""

from __future__ import annotations

import numpy as np

from clicksynth.generators.neural.transform import NeuralTransform

__all__ = ["CondSampler", "FrozenCond"]


class CondSampler:
    """Conditional vectors = [label one-hot (2) | one-hot over all categorical spans]."""

    def __init__(self, transform: NeuralTransform, discrete: np.ndarray, y: np.ndarray) -> None:
        self.n_disc = len(transform.disc_spans)
        self.offsets = np.array([0, *np.cumsum([s.width for s in transform.disc_spans])], dtype=np.int64)
        self.width = 2 + int(self.offsets[-1])
        self.y = y.astype(np.int64)
        self.discrete = discrete
        # Per label and column: category frequencies (log for training, raw for sampling)
        # and the rows of each category, grouped for O(1) draws.
        self.freq = np.zeros((2, int(self.offsets[-1])))
        self.groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for label in (0, 1):
            rows = np.flatnonzero(self.y == label)
            for j in range(self.n_disc):
                codes = discrete[rows, j]
                width = int(self.offsets[j + 1] - self.offsets[j])
                counts = np.bincount(codes, minlength=width)
                self.freq[label, self.offsets[j] : self.offsets[j + 1]] = counts
                order = rows[np.argsort(codes, kind="stable")]
                starts = np.r_[0, np.cumsum(counts)[:-1]]
                self.groups[(label, j)] = (order, starts, counts)
        self.label_rows = [np.flatnonzero(self.y == label) for label in (0, 1)]

    @staticmethod
    def sampling_freq(freq: np.ndarray, offsets: np.ndarray, n_disc: int, label: int, log: bool) -> list[np.ndarray]:
        out = []
        for j in range(n_disc):
            f = freq[label, offsets[j] : offsets[j + 1]]
            f = np.log1p(f) if log else f.copy()
            out.append(f / f.sum() if f.sum() > 0 else np.full(len(f), 1 / len(f)))
        return out

    def _tables(self) -> None:
        """Flat lookup tables so a whole batch is drawn with two searchsorted calls.

        Segment g = label * n_disc + column holds that (label, column)'s cumulative
        log-frequency probabilities, shifted by g, so ``searchsorted(table, g + u)``
        finds a category inside segment g for every row at once.
        """
        cums, cat_start, row_orders, row_starts, row_counts = [], [], [], [], []
        pos = rpos = 0
        for label in (0, 1):
            probs = self.sampling_freq(self.freq, self.offsets, self.n_disc, label, log=True)
            for j in range(self.n_disc):
                g = label * self.n_disc + j
                c = np.cumsum(probs[j])
                c[-1] = 1.0
                cums.append(c + g)
                cat_start.append(pos)
                pos += len(c)
                order, starts, counts = self.groups[(label, j)]
                row_orders.append(order)
                row_starts.append(starts + rpos)
                row_counts.append(counts)
                rpos += len(order)
        self._cum = np.concatenate(cums)
        self._cat_start = np.array(cat_start)
        self._row_order = np.concatenate(row_orders)
        self._row_start = np.concatenate(row_starts)
        self._row_count = np.concatenate(row_counts)

    def train_batch(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cond, mask of the conditioned column, real row indices) for one training batch.

        Clicks are drawn as often as non-clicks, so a 3% minority gets half of the
        generator's training signal.
        """
        labels = rng.integers(0, 2, size=batch)
        cond = np.zeros((batch, self.width), dtype=np.float32)
        cond[np.arange(batch), labels] = 1.0
        mask = np.zeros((batch, max(self.n_disc, 1)), dtype=np.float32)
        if self.n_disc == 0:
            rows = np.empty(batch, dtype=np.int64)
            for label in (0, 1):
                idx = np.flatnonzero(labels == label)
                pool = self.label_rows[label]
                rows[idx] = pool[rng.integers(0, len(pool), size=len(idx))]
            return cond, mask, rows
        if not hasattr(self, "_cum"):
            self._tables()
        cols = rng.integers(0, self.n_disc, size=batch)
        seg = labels * self.n_disc + cols
        flat = np.searchsorted(self._cum, seg + rng.random(batch), side="right")
        flat = np.minimum(flat, self._cat_start[seg] + (self.offsets[cols + 1] - self.offsets[cols]) - 1)
        cats = flat - self._cat_start[seg]
        rows = self._row_order[self._row_start[flat] + (rng.random(batch) * self._row_count[flat]).astype(np.int64)]
        cond[np.arange(batch), 2 + self.offsets[cols] + cats] = 1.0
        mask[np.arange(batch), cols] = 1.0
        return cond, mask, rows

    def generation_index(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) positions of the ones in the generation conditions: the label, then a
        random column's category drawn with its real frequency within the label
        ((n, 1), the label alone, when there are no categorical columns)."""
        if self.n_disc == 0:
            return np.full((n, 1), label, dtype=np.int64)
        if not hasattr(self, "_gen_cum"):
            # The column is uniform and the category follows its frequency, so the pair
            # is one draw from a flat table of P(column) * P(category | column), laid
            # out like the condition's columns: one search for the whole batch instead
            # of a loop over columns.
            self._gen_cum = [
                np.cumsum(np.concatenate(self.sampling_freq(self.freq, self.offsets, self.n_disc, lab, log=False))) for lab in (0, 1)
            ]
        cum = self._gen_cum[label]
        idx = np.full((n, 2), label, dtype=np.int64)
        idx[:, 1] = 2 + np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)
        return idx

    def generation_cond(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """The conditions of :meth:`generation_index` as dense one-hot rows."""
        idx = self.generation_index(label, n, rng)
        cond = np.zeros((n, self.width), dtype=np.float32)
        cond[np.arange(n)[:, None], idx] = 1.0
        return cond


class FrozenCond(CondSampler):
    """The sampling half of :class:`CondSampler`, rebuilt from saved frequencies."""

    def __init__(self, freq: np.ndarray, offsets: np.ndarray) -> None:  # no super().__init__: no rows to group
        self.freq = np.asarray(freq)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.n_disc = len(self.offsets) - 1
        self.width = 2 + int(self.offsets[-1])
