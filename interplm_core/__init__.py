"""InterPLM Explorer core: from a protein to its ESM-2 sparse-autoencoder features.

Plain Python, no Streamlit: the app, notebooks and the CLI all call this package.
"""

__version__ = "0.1.0"
