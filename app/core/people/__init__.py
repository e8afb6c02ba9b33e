"""People: face tracks grouped into people across the library (``refresh``: grouping in
``clustering``), named and corrected by the user (``edits``), whose word survives every
re-grouping, and found by name (``names``)."""

from app.core.people.edits import (
    delete_face_data,
    hide_person,
    merge_people,
    name_person,
    remove_face,
)
from app.core.people.refresh import (
    PeopleError,
    file_people,
    list_people,
    name_key,
    names_in_files,
    person_faces,
    person_view,
    refresh_people,
)

__all__ = ["PeopleError", "delete_face_data", "file_people", "hide_person", "list_people",
           "merge_people", "name_key", "name_person", "names_in_files", "person_faces", "person_view",
           "refresh_people", "remove_face"]
