"""AppTest of the model choice: offered from the registry, carried by the URL, and a clear
message (no crash) when the chosen model's weights are not available."""

from __future__ import annotations

from interplm_core.registry import MODELS
from tests.app_fixtures import new_app, texts

BIG = "esm2_t33_650M"


def test_url_model_sets_layers_from_its_spec(app_env):
    at = new_app(model=BIG, layer="3")  # 650M has no SAE at layer 3: its default layer instead
    at.run()
    assert not at.exception
    assert at.session_state["model"] == BIG and at.session_state["layer"] == MODELS[BIG].default_layer == 18
    assert [int(o) for o in at.radio(key="layer").options] == [1, 9, 18, 24, 30, 33]
    assert "ESM-2 650M · InterPLM sparse autoencoders (10,240 features per layer, layers 1, 9, 18, 24, 30, 33)" in texts(at)



def test_unknown_model_in_url_is_ignored(app_env):
    at = new_app(model="esm3", layer="5")
    at.run()
    assert at.session_state["model"] == "esm2_t6_8M" and at.session_state["layer"] == 5
    assert [int(o) for o in at.radio(key="layer").options] == [1, 2, 3, 4, 5, 6]


def test_shared_link_with_unavailable_weights_says_why(app_env):
    at = new_app(acc="P61626", model=BIG, layer="9")
    at.run()
    assert not at.exception
    assert "protein" not in at.session_state
    (error,) = at.error
    assert error.value.startswith("Could not load this protein: The esm2_t33_650M_UR50D weights are not on this computer")
    assert "Enter a UniProt accession, a sequence or a file above" in texts(at)  # what to do instead


def test_switching_model_keeps_the_protein_and_explains_the_failure(app_env):
    at = new_app(acc="P61626", layer="3")
    at.run()
    assert "ESM-2 8M · Layer 3, normalised features" in texts(at)
    at.selectbox(key="model").set_value(BIG).run()
    assert not at.exception
    assert at.session_state["layer"] == 18  # layer 3 has no 650M SAE
    assert any(e.value.startswith("Could not compute ESM-2 650M layer 18: The esm2_t33_650M_UR50D weights")
               for e in at.error)
    assert at.session_state["protein"].model == "esm2_t6_8M"  # the last good view stays
    assert at.query_params["model"] == BIG and at.query_params["layer"] == "18"  # the URL says what was chosen
    assert "ESM-2 8M · Layer 3, normalised features" in texts(at)
    at.selectbox(key="model").set_value("esm2_t6_8M").run()
    assert at.session_state["layer"] == 3 and not at.error
    assert at.query_params["model"] == "esm2_t6_8M" and at.query_params["layer"] == "3"
