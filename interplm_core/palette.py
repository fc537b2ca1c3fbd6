"""Every colour the explorer draws with, in one place (figures, 3D view, scripts, legends).

Why a module of its own: the 3D view, the PyMOL/ChimeraX scripts and the Plotly figures
must agree on colours, and the 3D side should not import Plotly to learn them.
Plain hex strings and tuples only (no imports), so anything can use it cheaply.
"""

from __future__ import annotations

#: Colours of up to three selected features (heatmap outlines, 3D view, scripts, legends).
FEATURE_COLOURS = ("#d62728", "#1f77b4", "#2ca02c")
#: AlphaFold DB's pLDDT bands: (lower bound, colour, name).
PLDDT_BANDS = ((90, "#0053D6", "very high"), (70, "#65CBF3", "confident"),
               (50, "#FFDB13", "low"), (0, "#FF7D45", "very low"))
#: A residue without a pLDDT value (outside the model).
NO_PLDDT = "#cccccc"
#: Residues no selected feature fires on (3D view and scripts).
NEUTRAL = "#d0d0d0"
#: Chains other than the analysed one, drawn pale.
OTHER_CHAIN = "#eeeeee"
#: Heatmap activation scale, low to high; zero stays transparent (see figures).
ACTIVATION_STOPS = {
    False: ("#deebf7", "#9ecae1", "#4292c6", "#08519c", "#08306b"),  # light theme: Blues
    True: ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"),  # dark theme: viridis
}
#: The 3D viewer's background per theme (matches .streamlit/config.toml's backgrounds).
VIEWER_BACKGROUND = {False: "#ffffff", True: "#0f1419"}
#: Rims drawn under a selection outline, widest first: a black and a white rim, so one of them
#: stands out (contrast >= 4.5) on any cell colour of either theme; the feature colour on top.
OUTLINE_RIMS = (("#000000", 6.5), ("#ffffff", 4.5))
OUTLINE_WIDTH = 2.5
#: Compare: a feature stronger / weaker in B than in A.
GAIN, LOSS = "#d62728", "#1f77b4"
#: Compare: mutated residues (heatmap guides, 3D spheres); UniProt sites in 3D.
MUTATION = "#ff7f0e"
SITE = "#9467bd"
#: UniProt annotation tracks in the heatmap.
ANNOTATION = "#9467bd"
#: Reconstruction-error track.
ERROR_TRACE = "#7f7f7f"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of '#rrggbb'."""
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in hex_to_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio (1 to 21) between two '#rrggbb' colours."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
