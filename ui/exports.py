"""Downloads: activations (CSV and Parquet), the heatmap as PNG/SVG, the structure with
activations in the B-factor column, and PyMOL / ChimeraX scripts reproducing the colours.

Data is produced lazily (download_button accepts a callable), so an unused download
costs nothing on each rerun.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from interplm_core import structure_exports
from interplm_core.errors import InterPLMError
from interplm_core.figures import export_image, heatmap_title
from interplm_core.sequences import safe_name
from interplm_core.session import LoadedProtein

from .loader import show_error


def wide_table(protein: LoadedProtein, features: list[int]) -> pd.DataFrame:
    """One row per residue: position, residue, then one column per feature (f123)."""
    seq = protein.record.sequence
    table = pd.DataFrame({"position": np.arange(1, len(seq) + 1), "residue": list(seq)})
    for f in features:
        table[f"f{f}"] = protein.result.activations[:, f]
    table["sae_error"] = protein.result.residue_error
    return table


def long_table(protein: LoadedProtein) -> pd.DataFrame:
    """Every non-zero activation of all 10,240 features: position, residue, feature, activation."""
    acts = protein.result.activations
    rows, cols = np.nonzero(acts)
    seq = np.array(list(protein.record.sequence))
    return pd.DataFrame({
        "protein": protein.record.id, "layer": protein.layer, "normalized": protein.normalized,
        "position": rows + 1, "residue": seq[rows], "feature": cols.astype(np.int32),
        "activation": acts[rows, cols],
    })


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def render_exports(protein: LoadedProtein, features: list[int], fig) -> None:
    # The record id is user text: file names and the scripts' `load` get its safe form.
    stem = safe_name(f"interplm_{protein.record.id}_L{protein.layer}{'' if protein.normalized else '_raw'}")
    st.markdown("**Activations**")
    c1, c2, c3 = st.columns(3)
    c1.download_button("CSV (shown features)", lambda: wide_table(protein, features).to_csv(index=False),
                       file_name=f"{stem}_top{len(features)}.csv", mime="text/csv", key="dl_csv")
    c2.download_button("Parquet (all non-zero)", lambda: parquet_bytes(long_table(protein)),
                       file_name=f"{stem}_nonzero.parquet", mime="application/octet-stream", key="dl_parquet")
    c3.download_button("CSV (all non-zero, long)", lambda: long_table(protein).to_csv(index=False),
                       file_name=f"{stem}_nonzero.csv", mime="text/csv", key="dl_csv_long")

    st.markdown("**Heatmap image**")
    st.caption("The camera icon above the chart saves an SVG of the current zoom in your browser. "
               "Or render the whole heatmap on the server:")
    c1, c2 = st.columns(2)
    for column, fmt in ((c1, "png"), (c2, "svg")):
        key = f"_img_{fmt}"
        if column.button(f"Render {fmt.upper()}", key=f"render_{fmt}"):
            try:
                with st.spinner(f"Rendering {fmt.upper()} (headless Chromium)…"):
                    title = heatmap_title(protein.title, protein.layer, protein.normalized,
                                          getattr(protein.result, "model", "ESM-2"))
                    st.session_state[key] = (stem, export_image(fig, fmt, title=title))
            except InterPLMError as err:
                show_error(err, "Image export failed")
        ready = st.session_state.get(key)
        if ready and ready[0] == stem:
            column.download_button(f"Download {fmt.upper()}", ready[1], file_name=f"{stem}_heatmap.{fmt}",
                                   mime="image/png" if fmt == "png" else "image/svg+xml", key=f"dl_{fmt}")

    view = protein.structure
    selected = st.session_state["selected"]
    if view is None:
        return
    st.markdown("**Structure**")
    if not selected:
        st.caption("Select a feature to export the structure coloured by it.")
        return
    first = selected[0]
    fmt = "pdb" if view.file.fmt == "pdb" else "cif"
    structure_name = f"{stem}_f{first}.{fmt}"
    pipeline_model = getattr(protein.result, "model", "ESM-2")
    source = structure_exports.ExportSource(
        protein=protein.record.id, model=pipeline_model, layer=protein.layer, normalized=protein.normalized,
        structure_name=view.file.source, synthetic=bool(getattr(protein.result, "synthetic", False)))

    def export(kind: str):
        return lambda: structure_exports.export_structure(kind, view.file.text, view.file.fmt, view.mapping,
                                                          protein.result.activations, selected, source,
                                                          structure_name)

    c1, c2, c3, c4 = st.columns(4)
    c1.download_button(f"{fmt.upper()} with f{first} as B-factor", export(fmt), file_name=structure_name,
                       mime="chemical/x-pdb" if fmt == "pdb" else "chemical/x-mmcif", key="dl_bfactor")
    refusal = structure_exports.script_refusal(view.mapping, structure_name)
    if refusal:
        c2.caption(refusal)
    else:
        c2.download_button("PyMOL script (.pml)", export("pml"), file_name=f"{stem}_features.pml",
                           mime="text/plain", key="dl_pml")
        c3.download_button("ChimeraX script (.cxc)", export("cxc"), file_name=f"{stem}_features.cxc",
                           mime="text/plain", key="dl_cxc")
    c4.download_button("3D view (.html)", export("html"), file_name=f"{stem}_3d.html", mime="text/html",
                       key="dl_html3d")
    st.caption(f"Scripts expect {structure_name} (the B-factor download) in the same folder. The 3D view "
               "is one self-contained page (3Dmol.js inside): open it in any browser, even offline, share it.")
