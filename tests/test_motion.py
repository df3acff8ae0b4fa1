"""Motion clip files: loading, saving, and the errors users see for bad files."""
import os
import pickle

import numpy as np
import pytest

from mimickit.anim.kin_char_model import KinCharModel
from mimickit.anim.motion import LoopMode, Motion, MotionFormatError, load_motion

HUMANOID = os.path.join(os.path.dirname(__file__), "..", "data", "assets", "humanoid", "humanoid.xml")
WIDTH = 34  # humanoid frame size


@pytest.fixture(scope="module")
def char():
    return KinCharModel(HUMANOID)


def _frames(n=5, width=WIDTH, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=(n, width)).astype(np.float32)


def _dump(path, obj, protocol=4):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


def _make_marker(path):
    # runs only if an unpickler executes code from the file
    open(path, "w").close()
    return {}


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_make_marker, (self.marker,))


class _PlainObject:
    def __init__(self):
        self.loop_mode, self.fps, self.frames = 0, 30, [[0.0] * WIDTH]


def test_save_load_roundtrip(tmp_path, char):
    frames = _frames(7)
    m = Motion(LoopMode.WRAP, 60, frames, path="x")
    path = str(tmp_path / "sub" / "clip.pkl")
    m.save(path)
    back = load_motion(path)
    assert back.loop_mode == LoopMode.WRAP
    assert back.fps == 60.0
    np.testing.assert_array_equal(back.frames, frames)
    assert back.num_frames == 7 and back.frame_size == WIDTH
    assert back.length == pytest.approx(6 / 60)
    back.check_char(char)  # the right width passes
    assert not os.path.exists(path + ".tmp")


def test_plain_list_pickle_loads(tmp_path):
    rows = _frames(3).tolist()
    path = _dump(tmp_path / "lists.pkl", {"loop_mode": 1, "fps": 30, "frames": rows}, protocol=2)
    m = load_motion(path)
    assert m.loop_mode == LoopMode.WRAP
    assert m.fps == 30.0 and isinstance(m.fps, float)
    assert m.frames.dtype == np.float32 and m.frames.shape == (3, WIDTH)
    np.testing.assert_allclose(m.frames, np.asarray(rows, dtype=np.float32))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickle_every_protocol_loads(tmp_path, protocol):
    frames = _frames(4, seed=protocol)
    path = _dump(tmp_path / "np.pkl", {"loop_mode": "clamp", "fps": np.float64(24.0), "frames": frames},
                 protocol=protocol)
    m = load_motion(path)
    assert m.loop_mode == LoopMode.CLAMP and m.fps == 24.0
    np.testing.assert_array_equal(m.frames, frames)


def test_class_instance_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = _dump(tmp_path / "evil.pkl", {"loop_mode": 0, "fps": 30, "frames": _Evil(str(marker))})
    with pytest.raises(MotionFormatError) as e:
        load_motion(path)
    assert not marker.exists()
    msg = str(e.value)
    assert path in msg and "class instances" in msg and "_make_marker" in msg


def test_plain_object_refused(tmp_path):
    path = _dump(tmp_path / "obj.pkl", _PlainObject())
    with pytest.raises(MotionFormatError, match="class instances"):
        load_motion(path)


def test_nan_names_file_field_and_position(tmp_path):
    frames = _frames(4)
    frames[2, 7] = np.nan
    path = _dump(tmp_path / "nan.pkl", {"loop_mode": 0, "fps": 30, "frames": frames})
    with pytest.raises(MotionFormatError) as e:
        load_motion(path)
    msg = str(e.value)
    assert path in msg and "'frames'" in msg and "NaN" in msg and "frame 2" in msg and "column 7" in msg


@pytest.mark.parametrize("fps", [-30, 0, float("nan"), "30", True])
def test_bad_fps_names_file_and_field(tmp_path, fps):
    path = _dump(tmp_path / "fps.pkl", {"loop_mode": 0, "fps": fps, "frames": _frames(2)})
    with pytest.raises(MotionFormatError) as e:
        load_motion(path)
    assert path in str(e.value) and "'fps'" in str(e.value)


def test_wrong_width_names_file_and_field(tmp_path, char):
    path = _dump(tmp_path / "wide.pkl", {"loop_mode": 0, "fps": 30, "frames": _frames(3, width=WIDTH + 2)})
    m = load_motion(path)
    with pytest.raises(MotionFormatError) as e:
        m.check_char(char)
    msg = str(e.value)
    assert path in msg and "'frames'" in msg and str(WIDTH + 2) in msg and str(WIDTH) in msg


@pytest.mark.parametrize("data,field", [
    ({"fps": 30, "frames": [[0.0] * WIDTH]}, "loop_mode"),
    ({"loop_mode": 0, "frames": [[0.0] * WIDTH]}, "fps"),
    ({"loop_mode": 0, "fps": 30}, "frames"),
    ({"loop_mode": 2, "fps": 30, "frames": [[0.0] * WIDTH]}, "loop_mode"),
    ({"loop_mode": "bounce", "fps": 30, "frames": [[0.0] * WIDTH]}, "loop_mode"),
    ({"loop_mode": 0, "fps": 30, "frames": []}, "frames"),
    ({"loop_mode": 0, "fps": 30, "frames": [[0.0, 1.0], [2.0]]}, "frames"),
])
def test_bad_fields_name_file_and_field(tmp_path, data, field):
    path = _dump(tmp_path / "bad.pkl", data)
    with pytest.raises(MotionFormatError) as e:
        load_motion(path)
    assert path in str(e.value) and field in str(e.value)


def test_not_a_dict_and_not_a_pickle(tmp_path):
    path = _dump(tmp_path / "list.pkl", [1, 2, 3])
    with pytest.raises(MotionFormatError, match="expected a dict"):
        load_motion(path)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a pickle")
    with pytest.raises(MotionFormatError, match="junk.pkl"):
        load_motion(str(junk))


def test_missing_file_names_path(tmp_path):
    path = str(tmp_path / "nope.pkl")
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_motion(path)
