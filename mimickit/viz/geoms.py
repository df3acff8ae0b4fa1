"""Read a character's geoms from an MJCF file (through MuJoCo's own parser) and build the
matching meshcat geometry.

MuJoCo geom conventions used here: sphere size[0] = radius; capsule and cylinder size[0] = radius,
size[1] = half-length along the geom's local z; box size = half extents; ellipsoid size = radii.
"""
import warnings

import numpy as np
import mujoco
import meshcat.geometry as mg

from .transforms import pose_to_matrix, quat_wxyz_to_xyzw, rot_x_matrix

# MuJoCo's default geom rgba; a geom still at this colour takes its material's colour instead.
_DEFAULT_RGBA = np.array([0.5, 0.5, 0.5, 1.0])


class GeomSpec(object):
    """One drawable geom, in the frame of its body."""
    __slots__ = ["name", "body_index", "geom_type", "size", "local_mat", "rgba", "mesh_vert",
                 "mesh_face"]

    def __init__(self, name, body_index, geom_type, size, local_mat, rgba, mesh_vert=None,
                 mesh_face=None):
        self.name = name
        self.body_index = body_index  # index among the character's bodies (MuJoCo id - 1)
        self.geom_type = geom_type  # a mujoco.mjtGeom value
        self.size = size  # [3]
        self.local_mat = local_mat  # [4, 4] geom pose in its body
        self.rgba = rgba  # [4]
        self.mesh_vert = mesh_vert  # [V, 3] for mesh geoms, else None
        self.mesh_face = mesh_face  # [F, 3]


def _clean_name(name, fallback):
    # meshcat splits paths on "/", so a name must not contain one
    name = (name or "").replace("/", "_").strip()
    return name if name else fallback


class CharModel(object):
    """Bodies and geoms of one MJCF character.

    body_names[i] is MuJoCo body i + 1 (the world body is left out), which is also row i of the
    body_pos / body_rot arrays that drive the character.
    """

    def __init__(self, mjcf_file):
        self.mjcf_file = str(mjcf_file)
        model = mujoco.MjModel.from_xml_path(self.mjcf_file)
        self.body_names = []
        for body_id in range(1, model.nbody):
            name = _clean_name(model.body(body_id).name, "body%d" % body_id)
            if name in self.body_names:
                name = "%s_%d" % (name, body_id)
            self.body_names.append(name)
        # parent index among character bodies, -1 for children of the world body
        self.parent_indices = [int(model.body_parentid[b]) - 1 for b in range(1, model.nbody)]
        self.geoms = []
        skipped = set()
        for geom_id in range(model.ngeom):
            body_id = int(model.geom_bodyid[geom_id])
            if body_id == 0:  # floors and other static world geoms are not part of the character
                continue
            spec = self._read_geom(model, geom_id, body_id)
            if spec is None:
                skipped.add(mujoco.mjtGeom(int(model.geom_type[geom_id])).name)
            else:
                self.geoms.append(spec)
        if skipped:
            warnings.warn("%s: geom types not drawn: %s" % (self.mjcf_file, sorted(skipped)))

    @property
    def num_bodies(self):
        return len(self.body_names)

    @staticmethod
    def _read_geom(model, geom_id, body_id):
        geom_type = int(model.geom_type[geom_id])
        if geom_type not in _BUILDERS:
            return None
        rgba = np.array(model.geom_rgba[geom_id], dtype=np.float64)
        mat_id = int(model.geom_matid[geom_id])
        if mat_id >= 0 and np.allclose(rgba, _DEFAULT_RGBA):
            rgba = np.array(model.mat_rgba[mat_id], dtype=np.float64)
        local_mat = pose_to_matrix(model.geom_pos[geom_id],
                                   quat_wxyz_to_xyzw(model.geom_quat[geom_id]))
        mesh_vert, mesh_face = None, None
        if geom_type == mujoco.mjtGeom.mjGEOM_MESH:
            mesh_id = int(model.geom_dataid[geom_id])
            v0, nv = int(model.mesh_vertadr[mesh_id]), int(model.mesh_vertnum[mesh_id])
            f0, nf = int(model.mesh_faceadr[mesh_id]), int(model.mesh_facenum[mesh_id])
            mesh_vert = np.array(model.mesh_vert[v0:v0 + nv], dtype=np.float32)
            mesh_face = np.array(model.mesh_face[f0:f0 + nf], dtype=np.uint32)
        name = _clean_name(model.geom(geom_id).name, "geom%d" % geom_id)
        return GeomSpec(name, body_id - 1, geom_type, np.array(model.geom_size[geom_id]),
                        local_mat, rgba, mesh_vert, mesh_face)


def lathe_mesh(profile, n_around=24):
    """Surface of revolution about z.

    profile: list of (ring_radius, z) from top to bottom; a radius of 0 makes a pole.
    Returns vertices [len(profile) * n_around, 3] and outward-wound faces [F, 3].
    """
    profile = np.asarray(profile, dtype=np.float64)  # [R, 2]
    phi = np.arange(n_around) * (2.0 * np.pi / n_around)  # [A]
    verts = np.stack([profile[:, :1] * np.cos(phi)[None],
                      profile[:, :1] * np.sin(phi)[None],
                      np.repeat(profile[:, 1:2], n_around, axis=1)], axis=-1)  # [R, A, 3]
    ring = np.arange(len(profile) - 1)[:, None]  # [R-1, 1]
    j = np.arange(n_around)[None]  # [1, A]
    a = ring * n_around + j  # upper ring, angle j
    b = (ring + 1) * n_around + j  # lower ring, angle j
    c = (ring + 1) * n_around + (j + 1) % n_around
    d = ring * n_around + (j + 1) % n_around
    # (a, b, c) and (a, c, d) are counter-clockwise seen from outside
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)], axis=0)
    return verts.reshape(-1, 3).astype(np.float32), faces.astype(np.uint32)


def capsule_mesh(radius, half_length, n_around=24, n_cap=8):
    """Capsule along local z: a cylinder of half-length `half_length` capped by hemispheres."""
    theta = np.linspace(0.0, 0.5 * np.pi, n_cap + 1)  # pole -> equator
    top = [(radius * np.sin(t), half_length + radius * np.cos(t)) for t in theta]
    bottom = [(r, -z) for (r, z) in reversed(top)]  # equator -> pole
    return lathe_mesh(top + bottom, n_around)


def make_geometry(spec):
    """-> (meshcat Geometry, extra [4, 4] applied after spec.local_mat)."""
    return _BUILDERS[spec.geom_type](spec)


def _sphere(spec):
    return mg.Sphere(float(spec.size[0])), np.eye(4)


def _capsule(spec):
    verts, faces = capsule_mesh(float(spec.size[0]), float(spec.size[1]))
    return mg.TriangularMeshGeometry(verts, faces), np.eye(4)


def _cylinder(spec):
    # meshcat's cylinder runs along its local y; turning +90 deg about x puts it along z
    geom = mg.Cylinder(2.0 * float(spec.size[1]), float(spec.size[0]))
    return geom, rot_x_matrix(0.5 * np.pi)


def _box(spec):
    return mg.Box((2.0 * np.asarray(spec.size, dtype=np.float64)).tolist()), np.eye(4)


def _ellipsoid(spec):
    return mg.Ellipsoid(np.asarray(spec.size, dtype=np.float64)), np.eye(4)


def _mesh(spec):
    return mg.TriangularMeshGeometry(spec.mesh_vert, spec.mesh_face), np.eye(4)


_BUILDERS = {
    int(mujoco.mjtGeom.mjGEOM_SPHERE): _sphere,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): _capsule,
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): _cylinder,
    int(mujoco.mjtGeom.mjGEOM_BOX): _box,
    int(mujoco.mjtGeom.mjGEOM_ELLIPSOID): _ellipsoid,
    int(mujoco.mjtGeom.mjGEOM_MESH): _mesh,
}


def rgb_to_hex(rgb):
    """(r, g, b) floats in [0, 1] -> 0xRRGGBB as three.js wants it."""
    r, g, b = [int(np.floor(255.0 * min(max(float(c), 0.0), 1.0) + 0.5)) for c in rgb[:3]]
    return (r << 16) | (g << 8) | b


def make_material(rgba, color=None, opacity=1.0):
    """Phong material from a geom's rgba; `color` (rgb) overrides it and `opacity` scales alpha."""
    rgb = rgba[:3] if color is None else color
    alpha = float(rgba[3]) * float(opacity)
    extra = {}
    if alpha < 1.0:
        # translucent ghosts: no depth writes, so their own far-side parts stay visible
        extra["depthWrite"] = False
    return mg.MeshPhongMaterial(color=rgb_to_hex(rgb), opacity=alpha, transparent=alpha < 1.0,
                                **extra)


def checker_floor(size=20.0, tile=0.5, colors=((0.62, 0.62, 0.62), (0.48, 0.48, 0.48))):
    """Square checkerboard at z = 0 with its top facing +z.

    Returns vertices [4 * N, 3], faces [2 * N, 3] and per-vertex colors [4 * N, 3] for N tiles;
    every tile has its own 4 corners so colours do not blend between tiles.
    """
    n = max(1, int(round(size / tile)))
    edges = (np.arange(n + 1) - 0.5 * n) * tile  # [n + 1]
    ix, iy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ix, iy = ix.reshape(-1), iy.reshape(-1)  # [N]
    x0, x1, y0, y1 = edges[ix], edges[ix + 1], edges[iy], edges[iy + 1]
    zeros = np.zeros_like(x0)
    corners = np.stack([np.stack([x0, y0, zeros], -1), np.stack([x1, y0, zeros], -1),
                        np.stack([x1, y1, zeros], -1), np.stack([x0, y1, zeros], -1)], 1)
    verts = corners.reshape(-1, 3)  # [4N, 3]
    base = 4 * np.arange(len(ix))[:, None]  # [N, 1]
    faces = np.concatenate([base + np.array([[0, 1, 2]]), base + np.array([[0, 2, 3]])], 0)
    tile_color = np.asarray(colors, dtype=np.float64)[(ix + iy) % 2]  # [N, 3]
    vert_color = np.repeat(tile_color, 4, axis=0)  # [4N, 3]
    return verts.astype(np.float32), faces.astype(np.uint32), vert_color.astype(np.float32)
