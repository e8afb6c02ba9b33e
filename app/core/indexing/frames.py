"""One picture at a given time: the thumbnail of a search result's moment.

The index keeps a poster and an 8-frame strip per clip; a moment in a long clip can be
far from all of them, so the app asks for the exact frame, off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from app.core.indexing import media

# After a seek, at most this many frames are decoded towards the wanted time: a long GOP
# costs a bounded amount and yields the nearest frame reached.
MAX_FORWARD_FRAMES = 240


def frame_at(path: str | Path, seconds: float, height: int = 180) -> np.ndarray:
    """RGB uint8 [height, w, 3] of the frame shown at ``seconds``, display orientation.

    Raises media.MediaError when the file cannot be opened or holds no picture there.
    """
    container = media.open_container(path)
    try:
        if not container.streams.video:
            raise media.MediaError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        target = max(0.0, float(seconds))
        if target > 0 and tb:
            container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
        best = None
        for n, frame in enumerate(container.decode(stream)):
            best = frame
            t = frame.time if frame.time is not None else 0.0
            if t + 1e-3 >= target or n >= MAX_FORWARD_FRAMES:
                break
        if best is None:
            raise media.MediaError(f"no frame at {target:.2f} s")
        rotation = int(round(getattr(best, "rotation", 0) or 0)) % 360
        rgb = best.to_ndarray(format="rgb24")
    except av.FFmpegError as e:
        raise media.MediaError(f"decoding failed ({e})") from e
    finally:
        container.close()
    k = (rotation // 90) % 4
    if k:
        rgb = np.ascontiguousarray(np.rot90(rgb, k))
    h, w = rgb.shape[:2]
    width = max(1, int(round(w * height / h)))
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
