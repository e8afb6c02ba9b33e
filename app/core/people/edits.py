"""The user's word about people: name, merge, remove a wrong face, hide.

Each is one transaction, and each is also kept as anchors (``app.store.people``) so that
``refresh_people`` -- incremental or ``rebuild`` -- never undoes it: naming or merging
pins the person's tracks to it (must-link), removing a face keeps its track out of that
person for good (cannot-link).
"""

from __future__ import annotations

import numpy as np

from app.core.people import clustering
from app.core.people.refresh import PeopleError, load_tracks, name_key, person_view
from app.store import people as store
from app.store.library import Library


def _person(lib: Library, person_id: int) -> store.PersonRow:
    row = store.person(lib, person_id)
    if row is None:
        raise PeopleError(f"no person {person_id}")
    return row


def _pin(lib: Library, person_id: int) -> None:
    """Every track of the person becomes a 'must' anchor of it (unless one already
    holds it)."""
    tracks = load_tracks(lib)
    rows = np.flatnonzero(tracks.person == person_id)
    if not len(rows):
        return
    held = store.anchors(lib, person_id)
    held_must = held.vectors[held.must]
    covered = {r for r, _ in clustering.anchor_matches(tracks.vectors[rows], held_must)}
    for i, row in enumerate(rows.tolist()):
        if i not in covered:
            store.add_anchor(lib, person_id, store.MUST, int(tracks.keys[row, 0]),
                             tracks.vectors[row])


def name_person(lib: Library, person_id: int, name: str) -> dict:
    """Name a person; its faces are the user's from now on."""
    _person(lib, person_id)
    name = " ".join(name.split())
    if not name:
        raise PeopleError("a name cannot be empty")
    with lib.transaction():
        store.update_person(lib, person_id, name=name, name_key=name_key(name))
        _pin(lib, person_id)
    return person_view(lib, person_id)


def merge_people(lib: Library, target_id: int, other_id: int) -> dict:
    """Every face of ``other_id`` goes to ``target_id``, which keeps its id (and its name,
    or takes the other's if it had none)."""
    if target_id == other_id:
        raise PeopleError("cannot merge a person with itself")
    target, other = _person(lib, target_id), _person(lib, other_id)
    with lib.transaction():
        store.move_faces(lib, other_id, target_id)
        store.move_anchors(lib, other_id, target_id)
        if target.name is None and other.name is not None:
            store.update_person(lib, target_id, name=other.name, name_key=name_key(other.name))
        store.delete_person(lib, other_id)
        _pin(lib, target_id)
    return person_view(lib, target_id)


def remove_face(lib: Library, face_id: int) -> dict:
    """Take a wrong face out of its person ("not Anna"): its whole track (the same face
    followed through the clip) leaves, and never comes back to this person; the next
    run may put it in another person."""
    face = store.face(lib, face_id)
    if face is None:
        raise PeopleError(f"no face {face_id}")
    person_id = face["person_id"]
    if person_id is None:
        raise PeopleError(f"face {face_id} is in no person")
    vector = store.track_vector(lib, face["file_id"], face["track"])
    faces = store.track_faces(lib, face["file_id"], face["track"])
    with lib.transaction():
        store.set_face_people(lib, [(f, None) for f in faces])
        if vector is not None:
            vector = clustering.normalized(vector[None])
            held = store.anchors(lib, person_id)
            # The track's own 'must' anchor goes; anchors of look-alike tracks stay
            # (the closer anchor decides for each track).
            wrong = [int(held.ids[k]) for _, k in clustering.anchor_matches(
                vector, held.vectors, clustering.ANCHOR_EXACT) if held.must[k]]
            store.delete_anchors(lib, wrong)
            store.add_anchor(lib, person_id, store.NEVER, face["file_id"], vector[0])
        row = store.person(lib, person_id)
        if row is not None and row.cover_face_id in faces:
            store.update_person(lib, person_id, cover_face_id=None)
    return {"face": face_id, "person": person_id, "faces_removed": len(faces)}


def hide_person(lib: Library, person_id: int, hidden: bool = True) -> dict:
    """Hide a person (or show it again): it keeps its faces, so it does not come back
    as a new person, and it is neither listed nor searched."""
    _person(lib, person_id)
    with lib.transaction():
        store.update_person(lib, person_id, hidden=hidden)
    return person_view(lib, person_id)


def delete_face_data(lib: Library) -> int:
    """Face recognition turned off: every face, person and anchor is deleted, and the
    library file is compacted so that nothing of them stays in it. Returns the number of
    faces deleted."""
    with lib.transaction():
        n = store.delete_face_data(lib)
    lib.conn.execute("VACUUM")
    return n
