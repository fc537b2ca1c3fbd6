"""InterPLM's published reference values; runs only where the real ESM-2 8M weights are.

The real checkpoint cannot be downloaded on the test machines (no internet), so this is
skipped there, saying so; on a machine with the weights (INTERPLM_WEIGHTS_DIR or the
torch hub cache) it checks our embeddings against InterPLM's own test values.
"""

import numpy as np
import pytest

from interplm_core.esm_embed import load_embedder
from interplm_core.registry import get_model_spec
from interplm_core.settings import get_settings
from interplm_core.weights import WeightsUnavailableError, is_synthetic_file

# formats.md: sequence "MKTA", first three dimensions of first and last residue.
REFERENCE = {
    1: ([-0.33677340, 0.35784656, -0.06361206], [0.32096285, 0.01496235, 0.48928824]),
    3: ([0.6774302, -0.05016875, -1.1119854], [0.23141728, -0.34035656, -0.76864666]),
}


@pytest.fixture(scope="module")
def real_embedder():
    settings = get_settings().with_(offline=True)
    try:
        embedder = load_embedder(get_model_spec(), settings, progress=False)
    except WeightsUnavailableError:
        pytest.skip("real esm2_t6_8M_UR50D weights are not on this machine (no internet here)")
    path = embedder.files["model"].path
    if is_synthetic_file(path):
        pytest.skip(f"{path} holds synthetic weights, not the published ones")
    return embedder


@pytest.mark.parametrize("layer", sorted(REFERENCE))
def test_interplm_reference_values(real_embedder, layer):
    emb = real_embedder.embed(["MKTA"], layer)[0]
    first, last = REFERENCE[layer]
    np.testing.assert_allclose(emb[0, :3], first, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(emb[-1, :3], last, rtol=1e-3, atol=1e-4)
