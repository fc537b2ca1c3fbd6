"""Ray engine: the same shard computation spread over Ray actors, locally or on a cluster.

Each actor holds one `ShardWorker` (weights loaded once) and returns finished shards as
Arrow tables to the driver, which writes them exactly as the local engine does; workers
need no shared file system, only the weights (INTERPLM_WEIGHTS_DIR on every node, or a
hub they can download from). Results are identical to the local engine's because a
shard's content depends only on its proteins, weights and parameters.

Locally, Ray is started on the loopback address with no dashboard. On a cluster, pass
its address (`ray://head:10001` or `auto` on a cluster node) and, with GPUs, the GPUs
to reserve per worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..reproducible import request_strict_gemm
from ..settings import Settings, get_settings
from .corpus import CorpusProtein, Shard
from .engine_local import ShardSink
from .shard import ShardParams


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a private local Ray instance
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0


def _package_dir() -> str:
    return str(Path(__file__).resolve().parents[1])


def start_ray(options: RayOptions):
    """Connect to a cluster, or start a local instance listening on loopback only."""
    try:
        import ray
    except ImportError:
        raise InputError("The Ray engine needs the 'ray' package: pip install ray==2.60.0") from None
    # Workers choose MKL's strict reproducible mode as the driver did (see reproducible.py).
    runtime_env = {"py_modules": [_package_dir()], "env_vars": {"MKL_CBWR": request_strict_gemm()}}
    if ray.is_initialized():
        return ray, False
    if options.address:
        ray.init(address=options.address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(
            num_cpus=max(1, int(options.workers * options.cpus_per_worker)),
            num_gpus=0,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
            log_to_driver=False,
            configure_logging=False,
        )
    return ray, True


def run_ray(
    model: str,
    layers: list[int],
    scale: str,
    settings: Settings | None,
    corpus: list[CorpusProtein],
    work: list[tuple[Shard, list[ShardParams]]],
    sink: ShardSink,
    options: RayOptions,
    progress=None,
) -> None:
    if not work:
        return
    ray, started_here = start_ray(options)
    try:
        actor_class = ray.remote(num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker)(_RemoteWorker)
        count = max(1, min(options.workers, len(work)))
        if options.gpus_per_worker > 0:
            # Ray gives each actor its GPU(s) through CUDA_VISIBLE_DEVICES: compute there.
            settings = (settings or get_settings()).with_(device="auto")
        actors = [actor_class.remote(model, layers, scale, settings) for _ in range(count)]
        queue = list(work)
        running: dict = {}

        def submit(actor) -> None:
            shard, params = queue.pop(0)
            ref = actor.run.remote(corpus[shard.start:shard.stop], params)
            running[ref] = (actor, params, shard)

        for actor in actors:
            if queue:
                submit(actor)
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            actor, params, shard = running.pop(done[0])
            results = ray.get(done[0])
            for layer_params in params:
                sink(layer_params.layer, shard, results[layer_params.layer])
            if progress is not None:
                progress.update(sum(len(p.sequence) for p in corpus[shard.start:shard.stop]))
            if queue:
                submit(actor)
    finally:
        if started_here:
            ray.shutdown()


class _RemoteWorker:
    """Body of a Ray actor: a ShardWorker created inside the worker process."""

    def __init__(self, model, layers, scale, settings):
        from interplm_core.atlas.worker import ShardWorker

        self.worker = ShardWorker(model, layers, scale, settings, hash_weights=False)

    def run(self, proteins, params):
        return dict(self.worker.run(proteins, params))  # one object back to the driver
