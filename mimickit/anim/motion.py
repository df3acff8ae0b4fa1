"""Motion clips in the MimicKit format.

A clip file is a pickle of a plain dict ``{"loop_mode", "fps", "frames"}``: ``loop_mode`` is 0 (clamp)
or 1 (wrap) (the names "clamp"/"wrap" are accepted too), ``fps`` a positive number and ``frames`` a
``[num_frames, 6 + num_dofs]`` list or numpy array; each frame is root position (3), root rotation
(3, exp map), then the joint DoFs in the MJCF's depth-first order.

Files are read through a restricted unpickler: only builtin containers and numbers, and the numpy
pieces an array needs, are allowed, so a clip file cannot run code when it is opened.
"""
import enum
import io
import math
import os
import pickle

import numpy as np


class LoopMode(enum.Enum):
    CLAMP = 0
    WRAP = 1


class MotionFormatError(ValueError):
    pass


# (module, name) pairs a plain-data clip pickle may reference: numpy arrays and dtypes only
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol 2 stores array bytes through it
}


class _PlainDataUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self._path = path

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise MotionFormatError(
            "%s: refused to load '%s.%s': a motion file must hold only plain data (a dict of "
            "numbers, strings and lists or numpy arrays), not class instances" % (self._path, module, name))



def load_plain_pickle(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _PlainDataUnpickler(io.BytesIO(data), path).load()
    except MotionFormatError:
        raise
    except Exception as e:
        raise MotionFormatError("%s: not a readable motion pickle (%s: %s)" % (path, type(e).__name__, e)) from e


def _parse_loop_mode(value, path):
    if isinstance(value, LoopMode):
        return value
    if isinstance(value, str):
        key = value.strip().upper()
        if key in LoopMode.__members__:
            return LoopMode[key]
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if int(value) in (0, 1):
            return LoopMode(int(value))
    raise MotionFormatError("%s: field 'loop_mode' is %r; expected 0 (clamp), 1 (wrap), 'clamp' or 'wrap'"
                            % (path, value))


class Motion:
    """One clip: frames [num_frames, frame_size] as float32 numpy, fps, loop mode."""

    def __init__(self, loop_mode, fps, frames, path="<motion>"):
        self.path = str(path)
        self.loop_mode = _parse_loop_mode(loop_mode, self.path)
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(fps)) or float(fps) <= 0:
            raise MotionFormatError("%s: field 'fps' is %r; expected a positive number" % (self.path, fps))
        self.fps = float(fps)
        try:
            arr = np.asarray(frames, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise MotionFormatError("%s: field 'frames' is not a numeric [num_frames, frame_size] array (%s)"
                                    % (self.path, e)) from e
        if arr.ndim != 2 or arr.shape[0] < 1:
            raise MotionFormatError("%s: field 'frames' has shape %s; expected [num_frames, frame_size] with "
                                    "at least one frame" % (self.path, tuple(arr.shape)))
        bad = ~np.isfinite(arr)
        if bad.any():
            f, c = np.argwhere(bad)[0]
            raise MotionFormatError("%s: field 'frames' holds NaN or inf (first at frame %d, column %d)"
                                    % (self.path, f, c))
        self.frames = arr

    @property
    def num_frames(self):
        return self.frames.shape[0]

    @property
    def frame_size(self):
        return self.frames.shape[1]

    @property
    def length(self):
        """Duration in seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    def check_char(self, char_model):
        """Raise if the frame width does not match the character's DoF layout."""
        if self.frame_size != char_model.frame_size:
            raise MotionFormatError(
                "%s: field 'frames' has %d columns per frame; character %s expects %d "
                "(root pos 3 + root rot 3 + %d DoFs)" % (self.path, self.frame_size, char_model.file,
                                                         char_model.frame_size, char_model.num_dofs))

    def to_dict(self):
        return {"loop_mode": self.loop_mode.value, "fps": self.fps, "frames": self.frames}

    def save(self, path):
        """Write as plain data (MimicKit compatible: int loop mode, numpy float32 frames)."""
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        tmp = str(path) + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump(self.to_dict(), f, protocol=4)
        os.replace(tmp, path)


def load_motion(path):
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError("motion file not found: %s" % path)
    data = load_plain_pickle(path)
    if not isinstance(data, dict):
        raise MotionFormatError("%s: expected a dict with keys loop_mode, fps, frames; found %s"
                                % (path, type(data).__name__))
    missing = [k for k in ("loop_mode", "fps", "frames") if k not in data]
    if missing:
        raise MotionFormatError("%s: missing field(s) %s; a motion file is a dict with keys "
                                "loop_mode, fps, frames" % (path, ", ".join(missing)))
    return Motion(data["loop_mode"], data["fps"], data["frames"], path=path)
