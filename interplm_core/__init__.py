"""InterPLM Explorer core: from a protein to its ESM-2 sparse-autoencoder features.

Plain Python, no Streamlit: the app, notebooks and the CLI all call this package.
"""

from .reproducible import request_strict_gemm

request_strict_gemm()  # before torch's first matrix product: see reproducible.py

__version__ = "0.1.0"
