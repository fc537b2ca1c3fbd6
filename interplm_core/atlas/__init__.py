"""Feature atlas: what every SAE feature does across a whole protein corpus.

Build one with `interplm atlas build` (`build.py`), query it with
`interplm_core.atlas.reader.FeatureAtlas`. The files on disk are described in
`layout.py`. Nothing is imported here, so Ray workers load only what a shard needs.
"""
