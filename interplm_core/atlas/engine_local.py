"""Local engine: shards one after another in this process, with a residue progress bar.

Each shard is computed once for all its missing layers (one ESM-2 pass feeds them all).
"""

from __future__ import annotations

from collections.abc import Callable

from .corpus import CorpusProtein, Shard
from .shard import ShardParams, ShardResult
from .worker import ShardWorker

#: Called with (layer, shard, result) after each shard; the builder writes it to disk.
ShardSink = Callable[[int, Shard, ShardResult], None]


def run_local(
    worker: ShardWorker,
    corpus: list[CorpusProtein],
    work: list[tuple[Shard, list[ShardParams]]],
    sink: ShardSink,
    progress=None,
) -> None:
    for shard, params in work:
        on_protein = progress.update if progress is not None else None
        for layer, result in worker.run(corpus[shard.start:shard.stop], params, on_protein):
            sink(layer, shard, result)  # written before the next layer's tables are built
