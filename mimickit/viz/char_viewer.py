"""meshcat viewer for MJCF characters: live poses, real-time playback and static HTML export.

Scene layout (relative to the visualizer's root, "/meshcat" by default):
    <char>                 fixed offset of the whole character (e.g. a ghost moved aside)
    <char>/<body>          per-frame body transform (the only thing that changes over time)
    <char>/<body>/<geom>   fixed geom pose in its body; the mesh sits under it
    floor                  checkerboard at z = 0 (z is up)
"""
import contextlib
import time

import numpy as np
import meshcat
import meshcat.geometry as mg
from meshcat.animation import Animation, AnimationClip, AnimationTrack

from .geoms import CharModel, checker_floor, make_geometry, make_material
from .html import iframe_html
from .transforms import normalize_quat, pose_to_matrix, to_numpy, translation_matrix

# a looping exported clip is replayed this many times (three.js wants a finite count here)
_LOOP_REPETITIONS = 1000000

# how a reference motion is drawn beside the simulated character: add_character("ref", ..., **REFERENCE_GHOST)
REFERENCE_GHOST = dict(color=(0.3, 0.6, 1.0), opacity=0.5)


def close_visualizer(vis):
    """Stops the meshcat server that `meshcat.Visualizer()` started, if any.

    meshcat 0.3.2's Visualizer.close() calls a ViewerWindow.close() that does not exist, so we
    close the zmq socket and kill the server subprocess ourselves.
    """
    window = vis.window
    if hasattr(window, "close"):  # newer meshcat versions
        window.close()
        return
    sock = getattr(window, "zmq_socket", None)
    if sock is not None and not sock.closed:
        sock.close(linger=0)
    proc = getattr(window, "server_proc", None)
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _in_kernel():
    """Whether this runs inside a Jupyter (IPython) kernel, where widgets can be shown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class _Character(object):
    __slots__ = ["model", "node", "body_nodes", "offset"]

    def __init__(self, model, node, body_nodes, offset):
        self.model = model
        self.node = node  # meshcat.Visualizer at <char>
        self.body_nodes = body_nodes  # one meshcat.Visualizer per body, at <char>/<body>
        self.offset = offset  # [3]


class CharViewer(object):
    """Draws MJCF characters in meshcat.

    vis: an existing meshcat.Visualizer (kept open by close()); None makes a new one, live as
    live says: "widget" (a view in the notebook, fed over the widget's comm: no server, no port; works
    in any Jupyter frontend), "server" (meshcat's server, a page at 127.0.0.1:7000 a browser on this
    machine opens; for scripts and --visualize), or None: the widget inside a Jupyter kernel, else the
    server. close() stops what it started.
    """

    def __init__(self, vis=None, floor=True, floor_size=20.0, tile_size=0.5, show_grid=False,
                 show_axes=False, live=None, height=400):
        self._owns_vis = vis is None
        if vis is None:
            if (live or ("widget" if _in_kernel() else "server")) == "widget":
                from .widget import WidgetWindow
                vis = meshcat.Visualizer(window=WidgetWindow(height=height))
            elif live not in (None, "server"):
                raise ValueError("live is %r; expected 'widget', 'server' or None" % (live,))
            else:
                vis = meshcat.Visualizer()
        self.vis = vis
        if self._owns_vis:  # a script that never calls close() still stops its server when it exits
            import atexit
            import weakref
            ref = weakref.ref(self)
            atexit.register(lambda: ref() is not None and ref().close())
        self.chars = {}  # name -> _Character
        self._frame_link = None  # link_frame's slider link
        # meshcat's own grid would z-fight with our floor; its axes clutter the character
        self.vis["/Grid"].set_property("visible", bool(show_grid))
        self.vis["/Axes"].set_property("visible", bool(show_axes))
        if floor:
            verts, faces, colors = checker_floor(floor_size, tile_size)
            self.vis["floor"].set_object(mg.TriangularMeshGeometry(verts, faces, color=colors),
                                         mg.MeshLambertMaterial(vertexColors=True))

    # ----- viewer -----

    def url(self):
        return self.vis.url()

    @property
    def widget(self):
        """The live view as a notebook widget (None with meshcat's server)."""
        return getattr(self.vis.window, "widget", None)

    def show(self, height=400):
        """IPython-displayable live view: the widget, or an iframe of the server's page (which needs the
        server's port reachable from the browser)."""
        if self.widget is not None:
            self.widget.height = int(height)
            return self.widget
        return self.vis.jupyter_cell(height=height)

    def open(self):
        """Opens the live viewer in the system's web browser."""
        self.vis.open()
        return self

    def set_camera_position(self, pos):
        """Moves the default camera to `pos` [3] (world, z up); it keeps looking at the origin."""
        x, y, z = [float(v) for v in to_numpy(pos).reshape(3)]
        # the default camera lives in a y-up frame turned +90 deg about x: world (x, y, z) is
        # (x, z, -y) there
        self.vis["/Cameras/default/rotated/<object>"].set_property("position", [x, z, -y])

    def close(self):
        """Stops the meshcat server if this viewer started it."""
        if self._owns_vis and self.vis is not None:
            close_visualizer(self.vis)
            self.vis = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----- characters -----

    def add_character(self, name, mjcf_file, color=None, opacity=1.0, offset=(0.0, 0.0, 0.0)):
        """Draws every non-world geom of the MJCF; returns its CharModel.

        color: (r, g, b) in [0, 1] replacing the geoms' own colours; opacity scales their alpha
        (e.g. color=(0.3, 0.6, 1.0), opacity=0.4 for a reference-motion ghost). offset: [2] or [3]
        shift of the whole character, e.g. to draw the ghost beside the simulated one.
        """
        name = str(name).replace("/", "_")
        if name in self.chars:
            self.remove_character(name)
        model = CharModel(mjcf_file)
        node = self.vis[name]
        body_nodes = [node[body_name] for body_name in model.body_names]
        for spec in model.geoms:
            geometry, extra_mat = make_geometry(spec)
            geom_node = body_nodes[spec.body_index][spec.name]
            geom_node.set_object(geometry, make_material(spec.rgba, color, opacity))
            geom_node.set_transform(spec.local_mat.dot(extra_mat))
        char = _Character(model, node, body_nodes, np.zeros(3))
        self.chars[name] = char
        self.set_offset(name, offset)
        return model

    def remove_character(self, name):
        self.chars.pop(name).node.delete()

    def set_visible(self, name, visible):
        """Shows or hides a whole character (e.g. a ghost toggled from a notebook checkbox)."""
        self.chars[name].node.set_property("visible", bool(visible))

    def set_offset(self, name, offset):
        """Shifts a whole character by offset [2] (x, y) or [3]."""
        char = self.chars[name]
        mat = translation_matrix(to_numpy(offset))
        char.offset = mat[:3, 3].copy()
        char.node.set_transform(mat)

    def body_matrices(self, name, body_pos, body_rot):
        """body_pos [..., B, 3], body_rot [..., B, 4] (xyzw) -> [..., B, 4, 4] after checks."""
        body_pos, body_rot = self._check_pose(name, body_pos, body_rot)
        return pose_to_matrix(body_pos, body_rot)

    def set_pose(self, name, body_pos, body_rot):
        """Moves one character. body_pos [B, 3], body_rot [B, 4] (x, y, z, w), with B bodies in
        MJCF order without the world body; torch tensors or numpy arrays."""
        mats = self.body_matrices(name, body_pos, body_rot)  # [B, 4, 4]
        if mats.ndim != 3:
            raise ValueError("set_pose takes one frame: body_pos [B, 3]; got %s"
                             % (mats.shape[:-2] + (3,),))
        self._send_matrices(self.chars[name], mats)

    def _send_matrices(self, char, mats):
        hold = getattr(self.vis.window, "hold", None)  # the widget sends a frame's bodies in one message
        with hold() if hold is not None else contextlib.nullcontext():
            for body_node, mat in zip(char.body_nodes, mats):  # mat [4, 4]
                body_node.set_transform(mat)

    def _check_pose(self, name, body_pos, body_rot):
        if name not in self.chars:
            raise KeyError("no character %r; known: %s" % (name, sorted(self.chars)))
        body_pos, body_rot = to_numpy(body_pos), to_numpy(body_rot)
        num_bodies = self.chars[name].model.num_bodies
        if body_pos.shape[-2:] != (num_bodies, 3) or body_rot.shape[-2:] != (num_bodies, 4) \
                or body_pos.shape[:-1] != body_rot.shape[:-1]:
            raise ValueError("character %r has %d bodies: want body_pos [..., %d, 3] and "
                             "body_rot [..., %d, 4], got %s and %s"
                             % (name, num_bodies, num_bodies, num_bodies, body_pos.shape,
                                body_rot.shape))
        return body_pos, body_rot

    def _check_clips(self, frames_by_char):
        """-> {name: (body_pos [T, B, 3], body_rot [T, B, 4])}; a single frame becomes T = 1."""
        clips = {}
        for name, (body_pos, body_rot) in frames_by_char.items():
            body_pos, body_rot = self._check_pose(name, body_pos, body_rot)
            if body_pos.ndim == 2:
                body_pos, body_rot = body_pos[None], body_rot[None]
            if body_pos.ndim != 3 or body_pos.shape[0] == 0:
                raise ValueError("clip of %r: want body_pos [T, B, 3] with T >= 1, got %s"
                                 % (name, body_pos.shape))
            clips[name] = (body_pos, body_rot)
        return clips

    # ----- playback -----

    def play(self, frames_by_char, fps=30.0, loop=False):
        """Plays clips live in real time.

        frames_by_char: {name: (body_pos [T, B, 3], body_rot [T, B, 4])}. Frames are dropped
        rather than slowing down if sending falls behind; a shorter clip holds its last frame.
        loop=True repeats until interrupted (KeyboardInterrupt, e.g. Jupyter's stop button).
        Returns the number of frames sent.
        """
        mats = {name: pose_to_matrix(pos, rot)  # [T, B, 4, 4]
                for name, (pos, rot) in self._check_clips(frames_by_char).items()}
        num_frames = max(m.shape[0] for m in mats.values())
        sent = 0

        def show(frame):
            for name, char_mats in mats.items():
                self._send_matrices(self.chars[name], char_mats[min(frame, len(char_mats) - 1)])

        try:
            while True:
                start = time.perf_counter()
                last = -1
                while True:
                    frame = int((time.perf_counter() - start) * fps)
                    if frame >= num_frames:
                        break
                    if frame != last:
                        show(frame)
                        sent += 1
                        last = frame
                    wait = start + (frame + 1) / float(fps) - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                if last != num_frames - 1:  # always end a pass on the final pose
                    show(num_frames - 1)
                    sent += 1
                if not loop:
                    break
        except KeyboardInterrupt:
            pass
        return sent

    def make_animation(self, frames_by_char, fps=30.0):
        """meshcat Animation with one position + quaternion track per body, keyed per frame."""
        anim = Animation(default_framerate=fps)
        for name, (body_pos, body_rot) in self._check_clips(frames_by_char).items():
            body_rot = normalize_quat(body_rot)  # [T, B, 4], xyzw as three.js wants it
            times = list(range(body_pos.shape[0]))  # in frames; three.js divides by fps
            for b, body_node in enumerate(self.chars[name].body_nodes):
                clip = AnimationClip(fps=fps)
                clip.tracks["position"] = AnimationTrack(
                    "position", "vector3", list(times), body_pos[:, b].tolist())
                clip.tracks["quaternion"] = AnimationTrack(
                    "quaternion", "quaternion", list(times), body_rot[:, b].tolist())
                anim.clips[body_node.path] = clip
        return anim

    def set_animation(self, frames_by_char, fps=30.0, play=True, loop=True):
        """Sends the clips as a meshcat animation (the viewer's Animations panel controls it)."""
        anim = self.make_animation(frames_by_char, fps)
        self.vis.set_animation(anim, play=play, repetitions=_LOOP_REPETITIONS if loop else 1)
        return anim

    def link_frame(self, frame_widget, fps):
        """Scrubbing without a round trip to the kernel: the live widget view shows its animation (sent with
        set_animation(..., play=False)) at frame frame_widget.value (an IntSlider or a Play), moved in the
        browser at the browser's frame rate. A kernel callback of the slider then waits on ipywidgets'
        one-update-in-flight round trip for the labels and plots alone. -> the ipywidgets link
        (``.unlink()`` ends it)."""
        import ipywidgets
        view = self.widget
        if view is None:
            raise RuntimeError("link_frame needs the widget view (CharViewer(live='widget'), or a Jupyter kernel)")
        if self._frame_link is not None:
            self._frame_link.unlink()  # one slider at a time drives the view
        view.anim_fps = float(fps)
        self._frame_link = ipywidgets.jslink((frame_widget, "value"), (view, "anim_frame"))
        return self._frame_link

    def clear_animation(self):
        """Drops the last animation sent, so later exports show the current still poses."""
        self.vis.set_animation(Animation(), play=False)

    # ----- static export -----

    def static_html(self, frames_by_char=None, fps=30.0, loop=True):
        """Self-contained HTML of the current scene, with the clips as animation if given.

        Without clips, the last animation sent (if any) stays in the page; see clear_animation.
        """
        if frames_by_char is not None:
            self.set_animation(frames_by_char, fps, play=True, loop=loop)
        return self.vis.static_html()

    def export_html(self, path, frames_by_char=None, fps=30.0, loop=True):
        """Writes static_html(...) to `path`; returns the path."""
        html = self.static_html(frames_by_char, fps, loop)
        with open(str(path), "w", encoding="utf-8") as f:
            f.write(html)
        return path

    def animation_html(self, frames_by_char=None, fps=30.0, loop=True, height=400):
        """IPython HTML embedding the static scene (works without reaching the server)."""
        return iframe_html(self.static_html(frames_by_char, fps, loop), height=height)
