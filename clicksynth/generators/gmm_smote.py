"""GMM-SMOTE: SMOTE inside the components of a Gaussian mixture.

The variant of the source studies: fit a Gaussian mixture to the encoded rows
of the class being grown, pick components in proportion to their weights
(their share of the likelihood), and interpolate only between rows the
mixture assigns to the same component, so new rows stay inside one mode of
the data instead of bridging two (SMOTE's known failure on multimodal data).

Encoding as ``smote``: standardised continuous atoms and one-hot / sqrt(2)
categorical atoms, decoded by argmax. The mixture has diagonal covariances
and is fitted on a reduced view (the first ``n_pca`` principal components of
the encoded rows) so it stays cheap and well conditioned with hundreds of
one-hot columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clicksynth.generators.smote import _Interpolation
from clicksynth.seeding import int_seed

__all__ = ["GMMSmote"]


class GMMSmote(_Interpolation):
    """Interpolate between k nearest neighbours that share a Gaussian-mixture component.

    Parameters
    ----------
    n_components
        Mixture components per class (fewer when a class has few rows).
    n_pca
        Principal components the mixture is fitted on.
    k_neighbors
        Neighbours within a component.
    """

    name = "gmm_smote"

    def __init__(
        self,
        *,
        n_components: int = 8,
        n_pca: int = 16,
        k_neighbors: int = 5,
        max_categories: int = 32,
        max_rows_per_class: int = 50_000,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_components = n_components
        self.n_pca = n_pca
        super().__init__(
            k_neighbors=k_neighbors,
            max_categories=max_categories,
            max_rows_per_class=max_rows_per_class,
            random_state=random_state,
            verbose=verbose,
        )

    @classmethod
    def get_test_params(cls) -> list[dict[str, Any]]:
        return [{"n_components": 3, "n_pca": 4, "k_neighbors": 3, "max_categories": 16}]

    def _draw(self, label: int, n: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture
        from sklearn.neighbors import NearestNeighbors

        own = np.flatnonzero(self.y_ == label)
        if len(own) > self.max_rows_per_class:
            own = np.sort(rng.choice(own, self.max_rows_per_class, replace=False))
        Z = np.asarray(self.design_[own], dtype=float)
        k_comp = int(max(1, min(self.n_components, len(Z) // max(2 * self.k_neighbors, 4))))
        dims = int(max(1, min(self.n_pca, Z.shape[1], len(Z) - 1)))
        view = PCA(n_components=dims, random_state=int_seed(rng)).fit_transform(Z) if Z.shape[1] > dims else Z
        gmm = GaussianMixture(n_components=k_comp, covariance_type="diag", reg_covar=1e-4, random_state=int_seed(rng)).fit(view)
        comp = gmm.predict(view)
        # Components by weight; a component needs two rows to interpolate.
        sizes = np.bincount(comp, minlength=k_comp)
        weights = np.where(sizes >= 2, gmm.weights_, 0.0)
        if weights.sum() == 0:
            weights, comp = np.ones(1), np.zeros(len(Z), dtype=int)
        weights = weights / weights.sum()
        per_comp = rng.multinomial(n, weights)
        out = []
        for c, m in enumerate(per_comp):
            if m == 0:
                continue
            members = np.flatnonzero(comp == c)
            k = min(self.k_neighbors, len(members) - 1)
            nn = NearestNeighbors(n_neighbors=k + 1).fit(Z[members])
            neigh = nn.kneighbors(Z[members], return_distance=False)[:, 1:]
            base = rng.integers(0, len(members), size=m)
            mate = neigh[base, rng.integers(0, k, size=m)]
            step = rng.random((m, 1))
            out.append(Z[members[base]] + step * (Z[members[mate]] - Z[members[base]]))
        return np.vstack(out)

    def _sample(self, n: int, label: int, rng: np.random.Generator) -> pd.DataFrame:
        if int((self.y_ == label).sum()) < 2:
            return super()._sample(n, label, rng)
        return self._undesign(self._draw(label, n, rng), rng)
