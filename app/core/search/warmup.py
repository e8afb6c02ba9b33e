"""Readying what the first search and the first similar strip need, before they are asked.

The app calls ``warm`` off the GUI thread when a library opens: the indexes are mapped
from disk (or, the first time, built and written), the text model is loaded. The first
question after that costs what any later one does.
"""

from __future__ import annotations

from app.core.search.search_index import search_index
from app.core.search.vector_index import vector_index
from app.store.library import Library


def warm(lib: Library, text_model: bool = True) -> None:
    vector_index(lib)
    search_index(lib)
    if text_model:
        warm_text_model()


def warm_text_model() -> None:
    """Load the text model (queries not asked before need it) and the label vectors."""
    from app.core.search.labelquery import default_matcher
    from app.inference.session import ModelError
    try:
        matcher = default_matcher()
        if hasattr(matcher.text_model, "load"):
            matcher.text_model.load()
    except ModelError:
        pass  # no text model installed: search says so when it is asked
