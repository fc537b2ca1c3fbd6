"""The weights store: lookup order, downloads over real HTTP, offline, failures, safe loading."""

import hashlib
import os
import pickle
import time

import numpy as np
import pytest
import torch

from interplm_core.errors import WeightsUnavailableError
from interplm_core.pipeline import FeaturePipeline
from interplm_core.registry import get_model_spec
from interplm_core.settings import get_settings
from interplm_core.weights import (
    esm_checkpoint_files,
    fetch_weights,
    load_torch_file,
    sae_file,
    torch_hub_checkpoint_dir,
)

SPEC = get_model_spec()
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hub_requests(mirror):
    return [r for r in mirror.requests if "InterPLM-esm2-8m" in r[1] or "fair-esm" in r[1]]


def test_esm_download_goes_to_torch_hub_cache_then_is_reused(online_env, synthetic_weights_dir):
    files = esm_checkpoint_files(SPEC, progress=False)
    assert {f.source for f in files.values()} == {"downloaded"}
    assert files["model"].path.parent == torch_hub_checkpoint_dir()
    assert files["model"].path.parent.parent.parent == online_env_torch_home()
    assert sha(files["model"].path) == sha(synthetic_weights_dir / "esm2_t6_8M_UR50D.pt")
    assert sha(files["regression"].path) == sha(synthetic_weights_dir / "esm2_t6_8M_UR50D-contact-regression.pt")
    before = len(online_env.requests)
    again = esm_checkpoint_files(SPEC, progress=False)
    assert {f.source for f in again.values()} == {"torch hub cache"}
    assert len(online_env.requests) == before


def online_env_torch_home():
    from pathlib import Path

    return Path(os.environ["TORCH_HOME"])


def test_sae_download_through_hugging_face_endpoint(online_env, synthetic_weights_dir):
    wf = sae_file(SPEC, 3, normalized=True)
    assert wf.source == "downloaded"
    before = len(online_env.requests)
    assert sae_file(SPEC, 3, normalized=True).source == "download cache"
    assert len(online_env.requests) == before  # a cached SAE costs no request
    assert str(wf.path).startswith(os.environ["INTERPLM_CACHE_DIR"])
    assert sha(wf.path) == sha(synthetic_weights_dir / "InterPLM-esm2-8m" / "layer_3" / "ae_normalized.pt")
    assert any("/Elana/InterPLM-esm2-8m/resolve/main/layer_3/ae_normalized.pt" in path for _, path, *_ in online_env.requests)


def test_pipeline_from_downloads_equals_pipeline_from_weights_dir(online_env, synthetic_weights_dir, tmp_path):
    downloaded = FeaturePipeline(progress=False).features([SEQ], 2)[0]
    local_settings = get_settings().with_(weights_dir=synthetic_weights_dir, cache_dir=tmp_path / "other")
    local = FeaturePipeline(settings=local_settings, progress=False).features([SEQ], 2)[0]
    np.testing.assert_array_equal(downloaded.activations, local.activations)
    assert downloaded.synthetic  # the mark travels with the files


def test_weights_dir_is_used_before_any_network_access(online_env, synthetic_weights_dir, monkeypatch):
    monkeypatch.setenv("INTERPLM_WEIGHTS_DIR", str(synthetic_weights_dir))
    before = len(hub_requests(online_env))
    files = fetch_weights(layers=[1, 6], progress=False)
    assert {f.source for f in files} == {"weights dir"}
    assert len(hub_requests(online_env)) == before


def test_offline_without_copies_names_what_to_download_and_where(online_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as err:
        esm_checkpoint_files(SPEC, progress=False)
    message = str(err.value)
    assert "offline mode is on" in message
    assert "esm2_t6_8M_UR50D.pt" in message and "esm2_t6_8M_UR50D-contact-regression.pt" in message
    assert str(torch_hub_checkpoint_dir()) in message and "INTERPLM_WEIGHTS_DIR" in message
    with pytest.raises(WeightsUnavailableError, match=r"layer_2/ae_normalized\.pt.*offline mode is on"):
        sae_file(SPEC, 2, normalized=True)


def test_hub_offline_flag_is_honoured(online_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub_requests(online_env))
    with pytest.raises(WeightsUnavailableError, match="offline mode is on"):
        sae_file(SPEC, 4, normalized=False)
    assert len(hub_requests(online_env)) == before


def test_offline_uses_what_was_downloaded(online_env, monkeypatch):
    sae_file(SPEC, 5, normalized=True)
    esm_checkpoint_files(SPEC, progress=False)
    monkeypatch.setenv("INTERPLM_OFFLINE", "1")
    assert sae_file(SPEC, 5, normalized=True).path.is_file()
    assert esm_checkpoint_files(SPEC, progress=False)["model"].source == "torch hub cache"


def test_hub_that_times_out_gives_a_clear_error_quickly(online_env, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", online_env.sim_url("slow"))
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "0.5")
    online_env.slow_seconds = 5
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="did not answer within 0.5 s") as err:
        sae_file(SPEC, 1, normalized=True)
    assert time.monotonic() - start < 4.5
    assert "python -m interplm_core weights fetch" in str(err.value)


def test_esm_server_that_times_out(online_env, monkeypatch):
    monkeypatch.setenv("INTERPLM_ESM_URL", online_env.sim_url("slow") + "/fair-esm")
    monkeypatch.setenv("INTERPLM_HTTP_TIMEOUT", "0.5")
    online_env.slow_seconds = 5
    with pytest.raises(WeightsUnavailableError, match=r"did not answer within 0.5 s"):
        esm_checkpoint_files(SPEC, progress=False)
    assert not list(torch_hub_checkpoint_dir().glob("*")) if torch_hub_checkpoint_dir().exists() else True


def test_cut_download_leaves_no_checkpoint_only_a_resumable_part(online_env, monkeypatch):
    """A download cut every time never leaves a file under the checkpoint's name; the mirror
    takes `Range`, so the partial `.part` is kept for the next attempt to resume."""
    monkeypatch.setenv("INTERPLM_ESM_URL", online_env.sim_url("cut") + "/fair-esm")
    with pytest.raises(WeightsUnavailableError, match="cut|failed"):
        esm_checkpoint_files(SPEC, progress=False)
    leftovers = {p.name for p in torch_hub_checkpoint_dir().glob("*")} if torch_hub_checkpoint_dir().exists() else set()
    assert leftovers <= {f"{SPEC.esm_name}.pt.part"}


def test_unknown_file_on_hub(online_env):
    from dataclasses import replace

    other = replace(SPEC, sae_repo="Elana/does-not-exist")
    with pytest.raises(WeightsUnavailableError, match="could not be downloaded"):
        sae_file(other, 1, normalized=True)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_files_with_code_are_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": _Exploit()}, path)
    with pytest.raises(WeightsUnavailableError, match="Refused to load"):
        load_torch_file(path)


def test_truncated_checkpoint_is_reported_as_damaged(tmp_path, synthetic_weights_dir):
    data = (synthetic_weights_dir / "InterPLM-esm2-8m" / "layer_1" / "ae_normalized.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsUnavailableError, match="damaged or incomplete"):
        load_torch_file(path)
    from interplm_core.weights import is_synthetic_file

    with pytest.raises(WeightsUnavailableError, match="damaged or incomplete"):  # the cheap check, same message
        is_synthetic_file(path)


def test_real_checkpoint_needs_namespace_allowed(synthetic_weights_dir):
    path = synthetic_weights_dir / "esm2_t6_8M_UR50D.pt"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # PyTorch's default refuses the Namespace
    checkpoint = load_torch_file(path)
    assert type(checkpoint["cfg"]["model"]).__name__ == "Namespace"
    assert checkpoint["cfg"]["model"].encoder_layers == 6
    assert all(k.startswith(("encoder.sentence_encoder.", "encoder.lm_head")) for k in checkpoint["model"])
    # lm_head.weight is tied to embed_tokens.weight: stored twice, counted once.
    params = sum(t.numel() for k, t in checkpoint["model"].items() if k != "encoder.lm_head.weight")
    regression = load_torch_file(synthetic_weights_dir / "esm2_t6_8M_UR50D-contact-regression.pt")
    params += sum(t.numel() for t in regression["model"].values())
    # 7,512,474 parameters as published, plus the rotary inv_freq buffers saved with the state dict.
    rotary = sum(t.numel() for k, t in checkpoint["model"].items() if k.endswith("inv_freq"))
    assert params - rotary == 7_512_474


def test_every_weights_source_has_a_label_for_users():
    """Each source string weights.py can produce is one the status panel translates."""
    import ast
    import inspect
    from pathlib import Path

    from interplm_core import weights

    tree = ast.parse(inspect.getsource(weights))
    produced = {
        node.args[1].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "WeightsFile"
        and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)
    }
    assert produced == {"weights dir", "torch hub cache", "downloaded", "hugging face cache", "download cache"}
    assert produced <= set(weights.SOURCE_LABELS)
    assert weights.WeightsFile(Path("x"), "weights dir").source_label == "weights folder"


def test_concurrent_loads_never_refuse_a_valid_checkpoint(synthetic_weights_dir):
    """Eight sessions loading at once (the fresh-app crash): every load succeeds."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    path = synthetic_weights_dir / "esm2_t6_8M_UR50D.pt"
    start = threading.Barrier(8)

    def load_many(_):
        start.wait()
        layers = []
        for _ in range(25):
            layers.append(load_torch_file(path, mmap=True)["cfg"]["model"].encoder_layers)
        return layers

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load_many, range(8)))
    assert results == [[6] * 25] * 8
    with pytest.raises(pickle.UnpicklingError):  # and the allow-list did not leak out of the loads
        torch.load(path, weights_only=True)


def test_sae_download_from_a_cutting_hub_ends_after_bounded_attempts(online_env, monkeypatch):
    """The hub client retried this forever (8 min, 6.6 GB, RecursionError); now: a few attempts."""
    monkeypatch.setenv("HF_ENDPOINT", online_env.sim_url("cut"))
    monkeypatch.setenv("INTERPLM_HTTP_RETRIES", "2")
    monkeypatch.setenv("INTERPLM_HTTP_BACKOFF", "0.05")
    before = len(online_env.requests)
    started = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match=r"failed after 3 attempts"):
        sae_file(SPEC, 2, normalized=True)
    assert time.monotonic() - started < 60
    assert len(online_env.requests) - before == 3


def test_a_copy_in_the_hugging_face_cache_is_used_without_requests(online_env, synthetic_weights_dir):
    from huggingface_hub import hf_hub_download

    from interplm_core.settings import get_settings

    settings = get_settings()
    path = hf_hub_download(SPEC.sae_repo, SPEC.sae_filename(4, False), endpoint=settings.hf_endpoint,
                           cache_dir=settings.hf_hub_cache)
    before = len(online_env.requests)
    found = sae_file(SPEC, 4, normalized=False)
    assert found.source == "hugging face cache" and str(found.path) == path
    assert len(online_env.requests) == before
    assert sha(found.path) == sha(synthetic_weights_dir / SPEC.sae_dir_name / SPEC.sae_filename(4, False))
