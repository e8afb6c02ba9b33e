"""The core: scanning, decoding, indexing, search. Pure Python: never imports Qt."""
