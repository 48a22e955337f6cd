"""tunesmith: train neural networks on music and generate new music."""

__version__ = "0.1.0"
