"""Finding clips: by words (``text_search``), by example (``similar_search``: a clip, a
moment of it, a photo) and by what was watched (``recommendations``). Every one answers
with ``Result`` rows, one per file, best first."""

from app.core.search.recommendations import recommend, record_watch
from app.core.search.results import Result, SearchError
from app.core.search.similar_search import similar
from app.core.search.text_search import search_text
from app.core.search.warmup import warm, warm_text_model

__all__ = ["Result", "SearchError", "recommend", "record_watch", "search_text", "similar",
           "warm", "warm_text_model"]
