"""Streamlit helpers of the explorer: view state and URL sharing, cached resources, the
sidebar status panel, banners, and the panels the pages assemble (heatmap, 3D view,
exports). Pages stay thin: they read widgets and call these."""
