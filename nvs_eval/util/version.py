"""nvs-eval's version, stored beside every row it scores (here, at the bottom, so every layer can read it)."""

__version__ = "0.1.0"
