"""Plotly figures of steering results: the residue x amino-acid change in probability, a
feature's amino-acid lens, and how much each residue's prediction depends on features.

Residues share the categorical x axis ("M1", "K2", ...) of the feature figures, so the
steering map lines up with the profile above it. No Streamlit import (notebooks use these).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .figures import FEATURE_COLOURS, residue_labels
from .steer import AMINO_ACIDS, SteerResult

_TRANSPARENT = "rgba(0,0,0,0)"


def steer_delta_figure(result: SteerResult, title: str = "") -> go.Figure:
    """After minus before probability per residue (x) and amino acid (y), diverging around 0.

    The wild-type residue of each position is marked with a ring; steered positions are
    underlined by a strip along the bottom.
    """
    sequence = result.sequence
    x = residue_labels(sequence)
    before, after = result.before, result.after
    z = (after - before).T  # [20, L]
    limit = float(np.abs(z).max(initial=0.0)) or 1e-3
    custom = np.stack([before.T, after.T], axis=-1)
    fig = go.Figure(go.Heatmap(
        x=x, y=list(AMINO_ACIDS), z=z, zmid=0, zmin=-limit, zmax=limit, colorscale="RdBu_r", customdata=custom,
        colorbar={"title": {"text": "Δp", "side": "right"}, "thickness": 12},
        hovertemplate="<b>%{x}</b> → %{y}<br>p %{customdata[0]:.3f} → %{customdata[1]:.3f}"
                      "<br>Δ %{z:+.3f}<extra></extra>",
    ))
    wild = [(label, aa) for label, aa in zip(x, sequence) if aa in AMINO_ACIDS]
    fig.add_trace(go.Scatter(
        x=[w[0] for w in wild], y=[w[1] for w in wild], mode="markers", name="wild type", hoverinfo="skip",
        marker={"symbol": "circle-open", "size": 7, "color": "#111", "line": {"width": 1.5}},
    ))
    steered = [x[p - 1] for p in result.positions]
    fig.add_trace(go.Scatter(
        x=steered, y=[0] * len(steered), mode="markers", name="steered", hoverinfo="skip", yaxis="y2",
        marker={"symbol": "square", "size": 6, "color": FEATURE_COLOURS[0]},
    ))
    fig.update_xaxes(type="category", nticks=min(len(x), 24), tickangle=0, title_text="residue")
    fig.update_layout(
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": list(AMINO_ACIDS)[::-1],
                   "title_text": "amino acid", "domain": [0.06, 1.0]},
        yaxis2={"domain": [0.0, 0.03], "range": [-1, 1], "showticklabels": False, "showgrid": False, "zeroline": False},
        height=420, margin={"l": 10, "r": 30, "t": 40 if title else 10, "b": 40}, showlegend=False,
        title={"text": title, "x": 0, "font": {"size": 14}} if title else None,
        paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT,
    )
    return fig


def lens_figure(lens: np.ndarray, feature: int) -> go.Figure:
    """Mean change in log-probability per amino acid when the feature is amplified (20 bars)."""
    colours = ["#b2182b" if v > 0 else "#2166ac" for v in lens]
    fig = go.Figure(go.Bar(
        x=list(AMINO_ACIDS), y=lens, marker={"color": colours, "line": {"width": 0}}, name=f"f{feature}",
        hovertemplate="%{x}: %{y:+.3f} nats<extra></extra>",
    ))
    fig.update_xaxes(type="category", title_text=None)
    fig.update_yaxes(title_text="Δ log p", zeroline=True, zerolinecolor="#888")
    fig.update_layout(height=220, margin={"l": 10, "r": 10, "t": 10, "b": 30}, bargap=0.15,
                      paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT)
    return fig


def wild_type_dependence_figure(sequence: str, delta: np.ndarray, features) -> go.Figure:
    """Change in log-probability of each residue's own amino acid after an ablation."""
    x = residue_labels(sequence)
    values = np.nan_to_num(delta, nan=0.0)
    colours = ["#6a3d9a" if v < 0 else "#bbb" for v in values]
    fig = go.Figure(go.Bar(
        x=x, y=values, marker={"color": colours, "line": {"width": 0}},
        hovertemplate="<b>%{x}</b><br>Δ log p(wild type) %{y:+.3f}<extra></extra>",
    ))
    names = ", ".join(f"f{f}" for f in features)
    fig.update_xaxes(type="category", nticks=min(len(x), 24), tickangle=0, title_text="residue")
    fig.update_yaxes(title_text="Δ log p (wild type)", zeroline=True, zerolinecolor="#888")
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 40}, bargap=0,
                      title={"text": f"Ablating {names} together", "x": 0, "font": {"size": 14}},
                      paper_bgcolor=_TRANSPARENT, plot_bgcolor=_TRANSPARENT)
    return fig
