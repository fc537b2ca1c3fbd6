"""Features as decoder directions: a 2-D map of all of them, and nearest neighbours.

Two features that write along similar decoder directions change the embedding alike, so
cosine similarity of decoder columns is the natural "similar features" measure, and a
2-D embedding of the unit decoder vectors is the feature map. Dead features (zero
decoder column) have no direction: their unit vector is zero and they sit at NaN on
the map (left out of the plot).

Map methods:
- `umap` (default): UMAP (cosine metric, fixed seed), as in InterPLM's own feature maps;
  about 75 s for 10,240 features on two CPU cores (most of it numba compiling), small
  beside the build itself.
- `pca`: the first two principal components of the unit decoder vectors. A linear
  projection: it shows the main axes of variation, not local clusters, but takes
  milliseconds. Tests and quick builds use it. The components come from the eigenvectors
  of the D x D covariance rather than an SVD of the F x D matrix: the same axes (to
  1e-14 here), 10x faster (0.05 s instead of 0.5 s a layer).

Both run with single-threaded BLAS (threadpoolctl): a multi-threaded SVD or product sums
in an order that depends on the thread count, and the map moved in the last bits
between a build on one core and one on two.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

MAP_METHODS = ("umap", "pca")


def unit_decoder(decoder_weight: np.ndarray) -> np.ndarray:
    """Decoder columns [D, F] as unit rows [F, D]; zero rows for dead features."""
    vectors = np.asarray(decoder_weight, dtype=np.float32).T.copy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)  # a zero-norm row stays zero
    return vectors


def similar_features(unit: np.ndarray, feature: int, count: int = 10) -> list[tuple[int, float]]:
    """The `count` features whose decoder direction (`unit` rows [F, D]) is closest (cosine) to `feature`'s."""
    if not 0 <= feature < unit.shape[0]:
        raise InputError(f"Feature {feature} does not exist: features are 0..{unit.shape[0] - 1}.")
    if not unit[feature].any():
        return []
    cosine = unit @ unit[feature]
    cosine[feature] = -np.inf
    alive = unit.any(axis=1)
    cosine[~alive] = -np.inf
    order = np.lexsort((np.arange(len(cosine)), -cosine))[:count]
    return [(int(i), float(cosine[i])) for i in order if np.isfinite(cosine[i])]


def feature_map(unit: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates [F, 2] (float32) of every feature; NaN for dead features."""
    if method not in MAP_METHODS:
        raise InputError(f"Unknown map method '{method}': use one of {', '.join(MAP_METHODS)}.")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _feature_map(unit, method, seed)


def _feature_map(unit: np.ndarray, method: str, seed: int) -> np.ndarray:
    alive = unit.any(axis=1)
    coords = np.full((unit.shape[0], 2), np.nan, np.float32)
    points = unit[alive].astype(np.float64)
    if len(points) < 3:
        return coords
    if method == "pca":
        centred = points - points.mean(axis=0)
        _, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
        projected = centred @ eigenvectors[:, [-1, -2]]
        # Fix each axis's sign so the map does not flip between platforms.
        signs = np.sign(projected[np.abs(projected).argmax(axis=0), [0, 1]])
        coords[alive] = projected * np.where(signs == 0, 1, signs)
        return coords
    try:
        import umap
    except ImportError:
        raise InputError("The UMAP feature map needs umap-learn (pip install umap-learn); or use --map pca.") from None
    reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed, n_neighbors=15, min_dist=0.1,
                        n_jobs=1)  # a seed makes UMAP single-threaded anyway; say so, no warning
    coords[alive] = reducer.fit_transform(points.astype(np.float32))
    return coords
