"""Plotly figures of SAE features: the residue x feature heatmap with aligned tracks, one
feature's profile along the chain, and the mutant-vs-wild-type difference map.

Clicks: plotly.js reports clicks on `Heatmap` cells, but Streamlit's chart drops them
(its selections cover scatter-type traces only). Rather than an invisible scatter layer
over every cell (which doubled the drawing time in a browser without a GPU), the app
listens to plotly.js itself (ui/chart_clicks.py); the figures here carry no extra trace.

The x axis is categorical ("M1", "K2", ...): Plotly thins category labels to what fits
and shows every residue letter once zoomed in, which keeps a 1,000-residue protein
readable. No Streamlit import here: the CLI and notebooks can use the same figures.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import palette
from .errors import InterPLMError
from .palette import FEATURE_COLOURS, PLDDT_BANDS  # re-exported: pages import them from here

#: Smallest font (px) of tick labels and axis titles: readable from the back of a room.
TICK_FONT = 14
_TRANSPARENT = "rgba(0,0,0,0)"
_FEATURE_LABEL = re.compile(r"^f(\d+)$")


def feature_label(feature: int) -> str:
    return f"f{int(feature)}"


#: Longest named y-axis label of the heatmap ("f5190 · Disulfide bond 30–148 (F1 0.91)"); the hover has it whole.
MAX_AXIS_LABEL = 44


def named_feature_label(feature: int, name: str | None) -> str:
    """'f5190 · Disulfide bond 30–148 (F1 0.91)', cut to MAX_AXIS_LABEL; 'f5190' without a name.
    The feature id comes first and is followed by a space, so a click on the label reads back
    with `feature_from_label(label.split(" ")[0])`."""
    if not name:
        return feature_label(feature)
    text = f"{feature_label(feature)} · {name}"
    text = text if len(text) <= MAX_AXIS_LABEL else text[:MAX_AXIS_LABEL - 1] + "…"
    return html.escape(text, quote=False)  # names may come from uploaded tracks: text, never markup


def feature_from_label(label: object) -> int | None:
    """Feature id from a y-axis label such as 'f1234' (None for anything else)."""
    match = _FEATURE_LABEL.match(str(label).strip())
    return int(match.group(1)) if match else None


def residue_labels(sequence: str) -> list[str]:
    """Category labels of the x axis: residue letter and 1-based position ('M1', 'K2', ...)."""
    return [f"{aa}{i}" for i, aa in enumerate(sequence, start=1)]


# ------------------------------------------------------------------ ordering

# ------------------------------------------------------------------ heatmap

def _activation_colorscale(dark: bool) -> list:
    """Zero is transparent (the background shows through), so sparse features read clearly."""
    stops = palette.ACTIVATION_STOPS[bool(dark)]
    scale = [[0.0, _TRANSPARENT], [1e-6, stops[0]]]
    scale += [[i / (len(stops) - 1), c] for i, c in enumerate(stops) if i > 0]
    return scale


def _track_rows(tracks: Mapping, plddt, residue_error) -> list[tuple[str, float]]:
    rows = []
    if tracks:
        rows.append(("annotations", max(0.6, 0.3 * len(tracks))))
    if plddt is not None:
        rows.append(("plddt", 0.3))
    if residue_error is not None:
        rows.append(("error", 0.6))
    return rows


def heatmap_figure(
    sequence: str,
    activations: np.ndarray,
    features: Sequence[int],
    *,
    normalized: bool = True,
    tracks: Mapping[str, Sequence[tuple[Sequence[int], str]]] | None = None,
    plddt: Sequence[float] | None = None,
    residue_error: Sequence[float] | None = None,
    selected: Sequence[int] = (),
    dark: bool = False,
    feature_names: Mapping[int, str] | None = None,
    percentiles: np.ndarray | None = None,
    height: int | None = None,
) -> go.Figure:
    """Residues x features heatmap with annotation, pLDDT and error tracks on a shared x axis.

    `height` (pixels) fits the figure to a given box (presentation mode); by default it
    grows with the number of features. Tick labels are at least `TICK_FONT` px, readable on
    a projector.

    `feature_names` (feature -> its best label: atlas concept or annotation on this protein)
    name the rows (cut to MAX_AXIS_LABEL) and appear whole in the hover; `percentiles`
    [K, L] (one row per drawn feature: each activation's percentile in the atlas) too.
    Normalised colours top out at 1 and the colour bar says "≥ 1" there: larger values
    exist (the scale is 1 at the Swiss-Prot maximum) and the hover shows them as they are.

    `activations` is the full [L, F] matrix (or any matrix whose columns are indexed by
    feature id); only the `features` columns are drawn, top to bottom in that order.
    `tracks` maps an annotation type to (positions, label) pairs (1-based positions).
    Colours span 0-1 for normalised features (comparable across proteins) and 0-max for raw.
    """
    features = [int(f) for f in features]
    length = len(sequence)
    # NumPy string arrays, not lists: Plotly validates and copies them without a per-item
    # Python loop (a 685-residue figure took ~220 ms to build from lists, ~80 ms this way).
    x = np.array(residue_labels(sequence), dtype=str)
    names = feature_names or {}
    y = np.array([named_feature_label(f, names.get(f)) for f in features], dtype=str)
    z = activations[:, features].T if features else np.zeros((0, length), dtype=np.float32)
    zmax = 1.0 if normalized else float(max(z.max(initial=0.0), 1e-6))
    extra = _track_rows(tracks or {}, plddt, residue_error)
    heat_height = max(1.6, 0.055 * max(len(features), 1) * 4)
    heights = [heat_height] + [h for _, h in extra]
    fig = make_subplots(rows=len(heights), cols=1, shared_xaxes=True, vertical_spacing=0.025,
                        row_heights=heights)
    fig.add_trace(go.Heatmap(
        x=x, y=y, z=z, zmin=0.0, zmax=zmax, colorscale=_activation_colorscale(dark),
        text=_cell_notes(z, _annotations_by_position(tracks or {}, length), features, names, percentiles),
        hovertemplate="<b>%{x}</b> · %{y}<br>activation %{z:.3f}%{text}<extra></extra>",
        xgap=0, ygap=1,
        colorbar=dict(title=dict(text="activation" + ("" if normalized else " (raw)"), side="right"),
                      len=min(1.0, heat_height / sum(heights) + 0.1), y=1.0, yanchor="top", thickness=12,
                      **_colorbar_ticks(normalized)),
        name="activations",
    ), row=1, col=1)
    for i, feature in enumerate(selected[:len(FEATURE_COLOURS)]):
        if feature in features:
            label = feature_label(feature)
            _outline_row(fig, features.index(feature), FEATURE_COLOURS[i], f"selected {label}", row=1, col=1)

    for row, (kind, _) in enumerate(extra, start=2):
        if kind == "annotations":
            _add_annotation_track(fig, row, x, tracks or {}, length)
        elif kind == "plddt":
            values = np.asarray(plddt, dtype=float)
            band, scale = _plddt_bands(values)
            fig.add_trace(go.Heatmap(
                x=x, y=["pLDDT"], z=band[None, :], customdata=values[None, :], zmin=0, zmax=len(scale) // 2,
                colorscale=scale, showscale=False, xgap=0, name="pLDDT",
                hovertemplate="<b>%{x}</b><br>pLDDT %{customdata:.1f}<extra></extra>",
            ), row=row, col=1)
            fig.update_yaxes(type="category", tickfont=dict(size=TICK_FONT), row=row, col=1)
        elif kind == "error":
            fig.add_trace(go.Scatter(
                x=x, y=np.asarray(residue_error, dtype=float), mode="lines", fill="tozeroy",
                line=dict(color=palette.ERROR_TRACE, width=1), name="SAE error", showlegend=False,
                hovertemplate="<b>%{x}</b><br>reconstruction error %{y:.4f}<extra></extra>",
            ), row=row, col=1)
            fig.update_yaxes(title_text="SAE err.", rangemode="tozero", nticks=3, row=row, col=1)

    fig.update_yaxes(autorange="reversed", type="category", title_text="feature", row=1, col=1,
                     tickfont=dict(size=TICK_FONT))
    for i, feature in enumerate(selected[:len(FEATURE_COLOURS)]):
        if feature in features:
            fig.add_annotation(xref="paper", yref="y", x=1.0, xanchor="left", y=str(y[features.index(feature)]),
                               text="●", showarrow=False, font=dict(color=FEATURE_COLOURS[i], size=14))
    fig.update_xaxes(type="category", tickangle=0, showgrid=False, nticks=min(length, 15),
                     tickfont=dict(size=TICK_FONT))
    fig.update_xaxes(title_text="residue", row=len(heights), col=1)
    fig.update_xaxes(title_font=dict(size=TICK_FONT))
    fig.update_yaxes(title_font=dict(size=TICK_FONT))
    # 22 px a row: at TICK_FONT (14 px) Plotly would otherwise label only every other row.
    total_px = 110 + int(22 * max(len(features), 8)) + sum(int(h * 100) for _, h in extra)
    fig.update_layout(
        height=int(height) if height else max(360, total_px), margin=dict(l=10, r=30, t=10, b=40),
        font=dict(size=TICK_FONT),
        dragmode="zoom", hovermode="closest", clickmode="event", bargap=0,
        paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT, uirevision=f"{sequence[:30]}{length}",
    )
    return fig


def _outline_row(fig: go.Figure, index: int, colour: str, name: str, **where) -> None:
    """A selected row's outline: black and white rims under the feature's colour, so it stands
    out on every colour of the activation scale in both themes (palette.OUTLINE_RIMS)."""
    for rim, width in palette.OUTLINE_RIMS + ((colour, palette.OUTLINE_WIDTH),):
        fig.add_shape(type="rect", xref="x domain", x0=0, x1=1, yref="y", y0=index - 0.5, y1=index + 0.5,
                      line=dict(color=rim, width=width), fillcolor=_TRANSPARENT,
                      name=name if rim == colour else f"{name} rim", **where)


def _colorbar_ticks(normalized: bool) -> dict:
    """Normalised scale: ticks 0..1 with "≥ 1" at the top (colours clip there, values do not)."""
    if not normalized:
        return {}
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    return {"tickvals": ticks, "ticktext": ["0", "0.25", "0.5", "0.75", "≥ 1"]}


def _cell_notes(z: np.ndarray, annotations_at: list[str], features: Sequence[int],
                names: Mapping[int, str], percentiles: np.ndarray | None) -> np.ndarray:
    """Hover suffix per cell [feature, residue]: the feature's full name, its atlas percentile,
    and the UniProt annotations at the residue, on the cells where the feature fires.

    Silent cells get none: the annotation track under the heatmap shows them, and repeating
    every annotation in every cell made a densely annotated protein's figure megabytes
    (polyubiquitin: 0.8 MB of hover text for 30 features).
    """
    named = np.array([f"<br>{feature_label(f)} · {html.escape(names[f], quote=False)}" if names.get(f) else ""
                      for f in features], dtype=object)
    cells = named[:, None] + np.array(annotations_at, dtype=object)[None, :]
    if percentiles is not None and len(features):
        ranks = np.char.add(np.char.add("<br>", np.char.mod("%.1f", np.asarray(percentiles, dtype=float))),
                            " percentile in the atlas")
        cells = named[:, None] + ranks.astype(object) + np.array(annotations_at, dtype=object)[None, :]
    return np.where(z > 0, cells, "").astype(str)


#: Colour of a residue without pLDDT (no residue in the model there).


def _plddt_bands(values: np.ndarray) -> tuple[np.ndarray, list]:
    """pLDDT as AlphaFold band numbers (+ 0.5) and the stepped colour scale that draws them.

    A coloured strip (as AlphaFold DB shows it), drawn as a one-row heatmap: one image, and
    a band number per residue rather than one colour string each (Plotly checks every colour
    string against its grammar). Band numbers, not raw values, so 50, 70 and 90 fall in the
    same band as in `PLDDT_BANDS` (lower bounds included) whatever the scale interpolation.
    """
    colours = [c for _, c, _ in PLDDT_BANDS] + [palette.NO_PLDDT]
    band = np.full(len(values), len(PLDDT_BANDS), dtype=float)  # "no value" unless a band matches
    for k in range(len(PLDDT_BANDS) - 1, -1, -1):
        band[np.isfinite(values) & (np.nan_to_num(values, nan=-1.0) >= PLDDT_BANDS[k][0])] = k
    n = len(colours)
    scale = [stop for k, c in enumerate(colours) for stop in ([k / n, c], [(k + 1) / n, c])]
    return band + 0.5, scale


def _annotations_by_position(tracks: Mapping, length: int) -> list[str]:
    """Hover suffix per residue listing the UniProt annotations there ('' when none)."""
    notes: list[list[str]] = [[] for _ in range(length)]
    for entries in tracks.values():
        for positions, label in entries:
            for p in positions:
                if 1 <= p <= length and label not in notes[p - 1]:
                    notes[p - 1].append(label)
    return ["<br>" + "<br>".join(n[:4]) + ("<br>…" if len(n) > 4 else "") if n else "" for n in notes]


def _add_annotation_track(fig: go.Figure, row: int, x: list[str] | np.ndarray, tracks: Mapping, length: int) -> None:
    kinds = list(tracks)
    z = np.full((len(kinds), length), np.nan)
    text = np.full((len(kinds), length), "", dtype=object)
    for k, kind in enumerate(kinds):
        for positions, label in tracks[kind]:
            for p in positions:
                if 1 <= p <= length:
                    z[k, p - 1] = 1.0
                    text[k, p - 1] = label if not text[k, p - 1] else f"{text[k, p - 1]}<br>{label}"
    fig.add_trace(go.Heatmap(
        x=x, y=kinds, z=z, text=text.astype(str), zmin=0, zmax=1, showscale=False, hoverongaps=False,
        colorscale=[[0, palette.ANNOTATION], [1, palette.ANNOTATION]], xgap=0, ygap=2, name="UniProt",
        hovertemplate="<b>%{x}</b><br>%{text}<extra></extra>",
    ), row=row, col=1)
    fig.update_yaxes(type="category", autorange="reversed", tickfont=dict(size=TICK_FONT), row=row, col=1)


# ------------------------------------------------------------------ one feature

def profile_figure(
    sequence: str,
    values: np.ndarray,
    feature: int,
    *,
    threshold: float | None = None,
    colour: str = FEATURE_COLOURS[0],
    normalized: bool = True,
    tracks: Mapping | None = None,
) -> go.Figure:
    """Activation of one feature along the chain (`values` [L]), with the firing threshold as a line."""
    x = residue_labels(sequence)
    notes = _annotations_by_position(tracks or {}, len(sequence))
    fig = go.Figure(go.Bar(
        x=x, y=values, marker=dict(color=colour, line=dict(width=0)), customdata=notes,
        hovertemplate="<b>%{x}</b><br>activation %{y:.3f}%{customdata}<extra></extra>",
        name=feature_label(feature),
    ))
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color="#888", dash="dash", width=1),
                      annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    fig.update_xaxes(type="category", nticks=min(len(sequence), 24), tickangle=0, title_text="residue")
    fig.update_yaxes(title_text="activation" + ("" if normalized else " (raw)"), rangemode="tozero",
                     range=[0, 1.05] if normalized and float(np.max(values, initial=0)) <= 1.0 else None)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=40), bargap=0,
                      title=dict(text=f"Feature {feature} along the sequence", x=0, font=dict(size=14)),
                      paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT)
    return fig


# ------------------------------------------------------------------ comparison

def delta_figure(
    sequence: str,
    delta: np.ndarray,
    features: Sequence[int],
    kinds: Sequence[str],
    *,
    highlight_positions: Sequence[int] = (),
    selected: Sequence[int] = (),
    title: str = "",
    highlight_labels: Sequence[str] = (),
) -> go.Figure:
    """B minus A per residue (`delta` [L, len(features)]; rows: features, diverging colours centred on zero).

    Mutated positions get a dotted guide and, with `highlight_labels` (one per position,
    e.g. 'K48R'), a label above the plot on the sequence axis."""
    x = residue_labels(sequence)
    y = [f"{feature_label(f)} ({k})" for f, k in zip(features, kinds)]
    z = delta.T
    limit = float(np.nanmax(np.abs(z), initial=0.0)) or 1.0
    fig = go.Figure(go.Heatmap(
        x=x, y=y, z=z, zmid=0, zmin=-limit, zmax=limit, colorscale="RdBu_r", hoverongaps=False,
        colorbar=dict(title=dict(text="B − A", side="right"), thickness=12),
        hovertemplate="<b>%{x}</b> · %{y}<br>change %{z:+.3f}<extra></extra>",
    ))
    labels = list(highlight_labels) or [""] * len(highlight_positions)
    for position, label in zip(highlight_positions, labels):
        if 1 <= position <= len(x):
            fig.add_vline(x=x[position - 1], line=dict(color=palette.MUTATION, width=1.5, dash="dot"))
            if label:
                fig.add_annotation(x=x[position - 1], xref="x", y=1.0, yref="paper", yanchor="bottom",
                                   text=f"▼ {label}", showarrow=False, name="mutation",
                                   font=dict(color=palette.MUTATION, size=TICK_FONT))
    for i, feature in enumerate(selected[:len(FEATURE_COLOURS)]):
        if feature in list(features):
            row = list(features).index(feature)
            _outline_row(fig, row, FEATURE_COLOURS[i], f"selected {feature_label(feature)}")
    fig.update_yaxes(type="category", autorange="reversed", tickfont=dict(size=TICK_FONT))
    fig.update_xaxes(type="category", nticks=min(len(x), 24), tickangle=0, title_text="residue (protein A)",
                     tickfont=dict(size=TICK_FONT))
    fig.update_layout(height=max(320, 110 + 18 * max(len(features), 6)),
                      margin=dict(l=10, r=30, t=64 if highlight_labels else 40, b=40),
                      font=dict(size=TICK_FONT),
                      title=dict(text=title, x=0, font=dict(size=14)) if title else None,
                      clickmode="event", paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT)
    return fig


# ------------------------------------------------------------------ static export

#: Average glyph width of Plotly's default sans-serif, per pixel of font size (digits and
#: lower case; generous, so an estimate never crops a label).
_GLYPH_WIDTH = 0.62
#: Room kept around each estimate (tick marks, the gap to the plot, rounding).
_PAD = 16


def _text_width(text: str, size: float) -> float:
    return len(str(text)) * size * _GLYPH_WIDTH


def _numeric_label(values) -> str:
    """The widest tick label Plotly would write for these values (3 significant digits)."""
    finite = np.asarray([v for v in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(v)])
    if not finite.size:
        return "0"
    return max((f"{v:.3g}" for v in (finite.min(), finite.max(), (finite.max() - finite.min()) / 7)), key=len)


def _axis_labels(fig: go.Figure) -> dict[str, list[str]]:
    """{y axis name ('yaxis', 'yaxis2', ...): tick labels of the traces drawn on it}."""
    labels: dict[str, list[str]] = {}
    for trace in fig.data:
        axis = "yaxis" + (trace.yaxis or "y")[1:]
        values = list(trace.y) if trace.y is not None else []
        if values and all(isinstance(v, str) for v in values):
            labels.setdefault(axis, []).extend(values)
        elif values:
            labels.setdefault(axis, []).append(_numeric_label(values))
    return labels


def export_figure(fig: go.Figure, title: str) -> go.Figure:
    """A copy of `fig` laid out for a slide or a paper: a title, and margins computed from the
    longest tick label and axis title on each side, so no feature label, track name or the
    colour bar is cut off (the on-screen figure keeps tight margins; the browser measures
    text there, a server render does not)."""
    from .inert import html_text

    export = go.Figure(fig)
    layout = export.layout
    title_size = 18
    left = 0.0
    for axis, labels in _axis_labels(export).items():
        spec = layout[axis]
        tick_size = (spec.tickfont.size if spec.tickfont and spec.tickfont.size else 12)
        width = max(_text_width(label, tick_size) for label in labels)
        if spec.title and spec.title.text:
            width += (spec.title.font.size or 14) * 1.5
        left = max(left, width)
    right = 30.0  # the selected features' dots beside the heatmap
    for trace in export.data:
        if trace.type == "heatmap" and trace.showscale is not False and trace.colorbar is not None:
            bar = trace.colorbar
            ticks = _numeric_label([trace.zmin or 0.0, trace.zmax if trace.zmax is not None else 1.0])
            title_text = bar.title.text if bar.title and bar.title.text else ""
            bar.update(x=1.0, xref="paper", xanchor="left", xpad=right)
            right += (bar.thickness or 30) + _text_width(ticks, 12) + _PAD + (14 * 1.5 if title_text else 0) + _PAD
    x_size = max((layout[a].tickfont.size or 12) for a in layout if a.startswith("xaxis")) if any(
        a.startswith("xaxis") for a in layout) else 12
    export.update_layout(
        title=dict(text=html_text(title), x=0, xref="container", xanchor="left", pad=dict(l=_PAD),
                   font=dict(size=title_size)),
        margin=dict(l=int(np.ceil(left + _PAD)), r=int(np.ceil(right)), t=int(title_size * 1.5 + 2 * _PAD),
                    b=int(x_size * 1.5 + 14 * 1.5 + 2 * _PAD)),
        paper_bgcolor="white", plot_bgcolor="white",
    )
    export.update_xaxes(automargin=True)
    export.update_yaxes(automargin=True)
    return export


def export_image(fig: go.Figure, fmt: str = "png", width: int = 1400, height: int | None = None,
                 scale: float = 2.0, title: str | None = None) -> bytes:
    """PNG or SVG bytes of a figure through kaleido (a headless Chromium; Debian's works).

    With a `title` the figure is laid out by `export_figure` (title, room for every label).
    Raises InterPLMError with what to install when kaleido or a browser is missing; the
    app then points users to the chart's own camera button, which exports in the browser.
    """
    if fmt not in ("png", "svg"):
        raise InterPLMError(f"Unknown image format '{fmt}': use png or svg.")
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise InterPLMError(
            "Server-side image export needs the 'kaleido' package (pip install kaleido). "
            "Meanwhile, use the camera icon above the chart to download a PNG."
        ) from None
    # kaleido's browser finder (choreographer) looks for chromium/chrome on PATH and in the
    # usual install places itself, and honours BROWSER_PATH; nothing to set here.
    export = export_figure(fig, title) if title is not None else go.Figure(fig)
    export.update_layout(paper_bgcolor="white", plot_bgcolor="white")
    height = height or fig.layout.height or 600
    if title is not None:
        height += export.layout.margin.t + export.layout.margin.b - (fig.layout.margin.t or 0) - (fig.layout.margin.b or 0)
    try:
        return export.to_image(format=fmt, width=width, height=height, scale=scale)
    except Exception as err:  # kaleido raises several unrelated types when Chromium cannot start
        raise InterPLMError(
            f"Image export failed ({type(err).__name__}: {err}). Set BROWSER_PATH to a Chromium "
            "binary, or use the camera icon above the chart."
        ) from err


def heatmap_title(protein: str, layer: int, normalized: bool, model: str = "ESM-2 8M") -> str:
    """The exported heatmap's title: which protein, layer and scale the colours are."""
    scale = "normalised activation (0-1)" if normalized else "raw activation"
    return f"{protein} · {model} layer {layer} · InterPLM SAE features · {scale}"
