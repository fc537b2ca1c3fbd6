"""Local engine: shards one after another in this process, with a residue progress bar."""

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
    work: list[tuple[ShardParams, Shard]],
    sink: ShardSink,
    progress=None,
) -> None:
    for params, shard in work:
        on_protein = progress.update if progress is not None else None
        result = worker.run(corpus[shard.start:shard.stop], params, on_protein)
        sink(params.layer, shard, result)
