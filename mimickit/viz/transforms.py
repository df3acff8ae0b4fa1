"""Small numpy helpers to turn body poses into 4x4 matrices for meshcat.

Quaternions follow the project convention (x, y, z, w), scalar last, unless a name says wxyz
(MuJoCo's model arrays use w first).
"""
import numpy as np


def to_numpy(x):
    """Torch tensor (any device, with or without grad) or array-like -> float64 numpy array."""
    if hasattr(x, "detach"):  # duck-typed so torch stays an optional import here
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def quat_wxyz_to_xyzw(q_wxyz):
    """q_wxyz [..., 4] -> [..., 4] with the scalar moved last."""
    q_wxyz = np.asarray(q_wxyz, dtype=np.float64)
    return np.concatenate([q_wxyz[..., 1:], q_wxyz[..., :1]], axis=-1)


def normalize_quat(q_xyzw):
    """q_xyzw [..., 4] -> unit quaternions; a zero quaternion becomes the identity."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    identity = np.zeros_like(q)
    identity[..., 3] = 1.0
    return np.where(norm > 1e-12, q / np.maximum(norm, 1e-12), identity)


def quat_xyzw_to_matrix(q_xyzw):
    """q_xyzw [..., 4] -> rotation matrices [..., 3, 3] (normalizes first)."""
    q = normalize_quat(q_xyzw)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rot = np.empty(q.shape[:-1] + (3, 3), dtype=np.float64)
    rot[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    rot[..., 0, 1] = 2.0 * (x * y - z * w)
    rot[..., 0, 2] = 2.0 * (x * z + y * w)
    rot[..., 1, 0] = 2.0 * (x * y + z * w)
    rot[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    rot[..., 1, 2] = 2.0 * (y * z - x * w)
    rot[..., 2, 0] = 2.0 * (x * z - y * w)
    rot[..., 2, 1] = 2.0 * (y * z + x * w)
    rot[..., 2, 2] = 1.0 - 2.0 * (x * x + y * y)
    return rot


def pose_to_matrix(pos, rot_xyzw):
    """pos [..., 3], rot_xyzw [..., 4] -> homogeneous transforms [..., 4, 4]."""
    pos = np.asarray(pos, dtype=np.float64)
    rot = quat_xyzw_to_matrix(rot_xyzw)
    mat = np.zeros(rot.shape[:-2] + (4, 4), dtype=np.float64)
    mat[..., :3, :3] = rot
    mat[..., :3, 3] = pos
    mat[..., 3, 3] = 1.0
    return mat


def translation_matrix(offset):
    """offset [3] (a 2-vector means x, y) -> 4x4 translation."""
    offset = np.asarray(offset, dtype=np.float64).reshape(-1)
    mat = np.eye(4)
    mat[:offset.shape[0], 3] = offset
    return mat


def rot_x_matrix(angle):
    """4x4 rotation by `angle` radians about x."""
    c, s = np.cos(angle), np.sin(angle)
    mat = np.eye(4)
    mat[1, 1], mat[1, 2], mat[2, 1], mat[2, 2] = c, -s, s, c
    return mat
