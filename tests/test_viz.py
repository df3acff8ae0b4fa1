"""Tests of mimickit.viz: MJCF geoms -> meshcat scene, body transforms, animation, HTML export,
and (when a chromium binary exists) a rendered screenshot of the exported page."""
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import meshcat
import umsgpack
from scipy.spatial.transform import Rotation

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mimickit.viz import (CharViewer, capsule_mesh, close_visualizer, find_chromium,  # noqa: E402
                          iframe_html, screenshot_html)
from mimickit.viz.screenshot import color_fraction, image_diff_fraction, read_png  # noqa: E402

from conftest import REPO_ROOT, decode_commands, process_alive  # noqa: E402

S = np.sqrt(0.5)

# two bodies; the world floor must not be drawn. Geoms are pure red for the screenshot test.
TINY_MJCF = """
<mujoco model="tiny">
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="base" pos="0 0 0.6">
      <freejoint/>
      <geom name="ball" type="sphere" size="0.12" rgba="1 0 0 1"/>
      <geom name="rod" type="capsule" size="0.05 0.2" pos="0 0 -0.3" rgba="1 0 0 1"/>
      <geom name="can" type="cylinder" size="0.04 0.1" pos="0 0.2 0" rgba="1 0 0 0.5"/>
      <body name="arm" pos="0 0 0.2">
        <joint type="hinge" axis="0 1 0"/>
        <geom name="block" type="box" size="0.15 0.04 0.03" pos="0.3 0 0"
              quat="0.7071068 0.7071068 0 0" rgba="1 0 0 1"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


class RecordingWindow(object):
    """Stands in for meshcat's ViewerWindow: keeps the lowered commands instead of sending."""

    def __init__(self):
        self.commands = []

    def send(self, command):
        self.commands.append(command.lower())

    def of_type(self, cmd_type):
        return {c["path"]: c for c in self.commands if c["type"] == cmd_type}


def sent_matrix(cmd):
    # SetTransform sends the column-major (three.js) flattening of the 4x4
    return np.array(cmd["matrix"], dtype=np.float64).reshape(4, 4).T


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.xml"
    path.write_text(TINY_MJCF)
    return str(path)


@pytest.fixture
def rec_viewer():
    window = RecordingWindow()
    return CharViewer(vis=meshcat.Visualizer(window=window)), window


@pytest.fixture(scope="module")
def server_vis():
    vis = meshcat.Visualizer()  # real zmq server subprocess
    yield vis
    proc = vis.window.server_proc
    close_visualizer(vis)
    assert proc.poll() is not None, "meshcat server still running"


def rest_pose():
    body_pos = np.array([[0.0, 0.0, 0.6], [0.0, 0.0, 0.8]])  # [B=2, 3]
    body_rot = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]])  # [B, 4] xyzw
    return body_pos, body_rot


def test_scene_objects(rec_viewer, tiny_file):
    viewer, window = rec_viewer
    model = viewer.add_character("sim", tiny_file)
    assert model.body_names == ["base", "arm"]
    assert [g.name for g in model.geoms] == ["ball", "rod", "can", "block"]  # no floor
    objs = window.of_type("set_object")
    root = "/meshcat/sim/"
    assert set(p for p in objs if p.startswith(root)) == {
        root + "base/ball", root + "base/rod", root + "base/can", root + "arm/block"}
    assert "/meshcat/floor" in objs

    def geometry(path):
        return objs[root + path]["object"]["geometries"][0]

    assert geometry("base/ball")["type"] == "SphereGeometry"
    assert geometry("base/ball")["radius"] == pytest.approx(0.12)
    box = geometry("arm/block")
    assert box["type"] == "BoxGeometry"
    assert [box["width"], box["height"], box["depth"]] == pytest.approx([0.3, 0.08, 0.06])
    cyl = geometry("base/can")
    assert cyl["type"] == "CylinderGeometry"
    assert (cyl["height"], cyl["radiusTop"]) == pytest.approx((0.2, 0.04))
    # capsule: our own mesh, length 2 * (half + radius) along z
    cap = geometry("base/rod")
    verts = np.frombuffer(cap["data"]["attributes"]["position"]["array"].data, np.float32)
    verts = verts.reshape(-1, 3)
    assert verts[:, 2].min() == pytest.approx(-0.25) and verts[:, 2].max() == pytest.approx(0.25)
    assert np.linalg.norm(verts[:, :2], axis=1).max() == pytest.approx(0.05, rel=1e-4)

    mat = objs[root + "base/ball"]["object"]["materials"][0]
    assert mat["color"] == 0xFF0000 and mat["opacity"] == 1.0 and not mat["transparent"]
    can_mat = objs[root + "base/can"]["object"]["materials"][0]
    assert can_mat["opacity"] == pytest.approx(0.5) and can_mat["transparent"]

    tfs = window.of_type("set_transform")
    # geom poses in their bodies, MuJoCo quat wxyz (0.707, 0.707, 0, 0) = +90 deg about x
    block = sent_matrix(tfs[root + "arm/block"])
    expect = np.eye(4)
    expect[:3, :3] = Rotation.from_quat([S, 0, 0, S]).as_matrix()
    expect[:3, 3] = [0.3, 0, 0]
    np.testing.assert_allclose(block, expect, atol=1e-6)
    np.testing.assert_allclose(sent_matrix(tfs[root + "base/rod"])[:3, 3], [0, 0, -0.3])
    # meshcat's cylinder axis (its local y) must end up along the MuJoCo geom's z
    can = sent_matrix(tfs[root + "base/can"])
    np.testing.assert_allclose(can[:3, :3].dot([0, 1, 0]), [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(can[:3, 3], [0, 0.2, 0])


def test_ghost_color_opacity_offset(rec_viewer, tiny_file):
    viewer, window = rec_viewer
    viewer.add_character("sim", tiny_file)
    viewer.add_character("ref", tiny_file, color=(0.2, 0.6, 1.0), opacity=0.4, offset=(0, 1.5))
    objs = window.of_type("set_object")
    mat = objs["/meshcat/ref/base/ball"]["object"]["materials"][0]
    assert mat["color"] == (51 << 16) | (153 << 8) | 255
    assert mat["opacity"] == pytest.approx(0.4) and mat["transparent"]
    assert objs["/meshcat/ref/base/can"]["object"]["materials"][0]["opacity"] == \
        pytest.approx(0.2)  # geom alpha 0.5 times ghost opacity
    assert objs["/meshcat/sim/base/ball"]["object"]["materials"][0]["color"] == 0xFF0000
    offset = sent_matrix(window.of_type("set_transform")["/meshcat/ref"])
    np.testing.assert_allclose(offset, [[1, 0, 0, 0], [0, 1, 0, 1.5], [0, 0, 1, 0], [0, 0, 0, 1]])


def test_set_pose_matches_scipy(rec_viewer, tiny_file):
    viewer, window = rec_viewer
    viewer.add_character("sim", tiny_file)
    rng = np.random.RandomState(0)
    body_pos = rng.randn(2, 3)  # [B, 3]
    body_rot = rng.randn(2, 4)  # [B, 4] xyzw, deliberately not unit length
    viewer.set_pose("sim", body_pos, body_rot)
    tfs = window.of_type("set_transform")
    for i, body in enumerate(["base", "arm"]):
        expect = np.eye(4)
        expect[:3, :3] = Rotation.from_quat(body_rot[i]).as_matrix()  # scipy: xyzw too
        expect[:3, 3] = body_pos[i]
        np.testing.assert_allclose(sent_matrix(tfs["/meshcat/sim/" + body]), expect, atol=1e-9)


def test_xyzw_rotation_about_z(rec_viewer, tiny_file):
    torch = pytest.importorskip("torch")
    viewer, window = rec_viewer
    viewer.add_character("sim", tiny_file)
    body_pos = torch.tensor([[0.0, 0.0, 0.6], [1.0, 2.0, 0.5]])  # [B, 3]
    body_rot = torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, S, S]])  # arm: +90 deg about z
    viewer.set_pose("sim", body_pos, body_rot)
    tfs = window.of_type("set_transform")
    arm = sent_matrix(tfs["/meshcat/sim/arm"])
    block_local = sent_matrix(tfs["/meshcat/sim/arm/block"])
    # the block sits at +0.3 on the arm's x axis; turned 90 deg about z that is world +y
    np.testing.assert_allclose(arm.dot(block_local)[:3, 3], [1.0, 2.3, 0.5], atol=1e-6)


def test_pose_shape_errors(rec_viewer, tiny_file):
    viewer, _ = rec_viewer
    viewer.add_character("sim", tiny_file)
    with pytest.raises(ValueError):
        viewer.set_pose("sim", np.zeros((3, 3)), np.zeros((3, 4)))  # 3 bodies, model has 2
    with pytest.raises(ValueError):
        viewer.set_pose("sim", np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(KeyError):
        viewer.set_pose("nobody", *rest_pose())


def clip(num_frames, y_from=-0.5, y_to=0.5):
    """Tiny character sliding along y: body_pos [T, 2, 3], body_rot [T, 2, 4]."""
    body_pos, body_rot = rest_pose()
    pos = np.repeat(body_pos[None], num_frames, 0)
    pos[:, :, 1] += np.linspace(y_from, y_to, num_frames)[:, None]
    angle = np.linspace(0.0, np.pi, num_frames)
    rot = np.repeat(body_rot[None], num_frames, 0)
    rot[:, 1] = np.stack([0 * angle, 0 * angle, np.sin(angle / 2), np.cos(angle / 2)], -1)
    return pos, rot


def test_make_animation(rec_viewer, tiny_file):
    viewer, window = rec_viewer
    viewer.add_character("sim", tiny_file)
    viewer.add_character("ref", tiny_file, opacity=0.4)
    pos, rot = clip(7)
    anim = viewer.make_animation({"sim": (pos, rot), "ref": (pos[:5], 2 * rot[:5])}, fps=20)
    lowered = {a["path"]: a["clip"] for a in anim.lower()}
    assert sorted(lowered) == ["/meshcat/ref/arm", "/meshcat/ref/base", "/meshcat/sim/arm",
                               "/meshcat/sim/base"]
    arm = lowered["/meshcat/sim/arm"]
    assert arm["fps"] == 20
    tracks = {t["name"]: t for t in arm["tracks"]}
    assert tracks[".position"]["type"] == "vector3"
    assert [k["time"] for k in tracks[".position"]["keys"]] == list(range(7))
    np.testing.assert_allclose([k["value"] for k in tracks[".position"]["keys"]], pos[:, 1])
    np.testing.assert_allclose([k["value"] for k in tracks[".quaternion"]["keys"]], rot[:, 1])
    ref_quats = [k["value"] for t in lowered["/meshcat/ref/arm"]["tracks"] for k in t["keys"]
                 if t["name"] == ".quaternion"]
    np.testing.assert_allclose(ref_quats, rot[:5, 1])  # normalized back to unit length

    viewer.set_animation({"sim": (pos, rot)}, fps=20, loop=False)
    cmd = [c for c in window.commands if c["type"] == "set_animation"][-1]
    assert cmd["options"] == {"play": True, "repetitions": 1}
    assert len(cmd["animations"]) == 2


def test_play_realtime(rec_viewer, tiny_file):
    viewer, window = rec_viewer
    viewer.add_character("sim", tiny_file)
    pos, rot = clip(6)
    fps = 50.0
    window.commands = []
    start = time.perf_counter()
    sent = viewer.play({"sim": (pos, rot)}, fps=fps)
    elapsed = time.perf_counter() - start
    assert sent == 6
    assert 5 / fps - 0.01 <= elapsed < 1.0
    tfs = [c for c in window.commands if c["path"] == "/meshcat/sim/base"]
    assert len(tfs) == 6
    np.testing.assert_allclose(sent_matrix(tfs[-1])[:3, 3], pos[-1, 0])


def test_iframe_html_escapes():
    out = iframe_html('<p class="x">a & b</p>', height=321)
    assert 'srcdoc="&lt;p class=&quot;x&quot;&gt;a &amp; b&lt;/p&gt;"' in out.data
    assert "height: 321px" in out.data and "<iframe srcdoc=" in out.data


def test_capsule_mesh_outward():
    verts, faces = capsule_mesh(0.1, 0.3, n_around=12, n_cap=4)
    tri = verts[faces].astype(np.float64)  # [F, 3, 3]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(normal, axis=1)
    centre = tri.mean(axis=1)
    outward = (normal * centre).sum(axis=1)
    assert np.all(outward[area > 1e-9] > 0)  # degenerate pole triangles aside


def test_blank_image_detection():
    img = np.full((40, 60, 3), 0.5)  # [H, W, 3]
    assert image_diff_fraction(img) == 0.0
    img[10:20, 10:30] = [1.0, 0.0, 0.0]
    assert image_diff_fraction(img) == pytest.approx(200 / 2400.0)
    assert color_fraction(img * 0.6, (1.0, 0.0, 0.0)) == pytest.approx(200 / 2400.0)  # shaded


def test_export_html_self_contained(server_vis, tiny_file, tmp_path):
    viewer = CharViewer(vis=server_vis)
    viewer.add_character("sim", tiny_file)
    viewer.add_character("ref", tiny_file, color=(0.3, 0.6, 1.0), opacity=0.4, offset=(0, 1))
    viewer.set_pose("sim", *rest_pose())
    assert viewer.url().startswith("http://")
    assert viewer.url() in viewer.show().data
    pos, rot = clip(9)
    path = viewer.export_html(str(tmp_path / "clip.html"), {"sim": (pos, rot), "ref": (pos, rot)},
                              fps=30)
    html = open(path, encoding="utf-8").read()
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)  # JS inlined, nothing fetched
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", html, re.I)
    assert "MeshCat.Viewer" in html
    cmds = decode_commands(html)
    objects = set(c["path"] for c in cmds if c["type"] == "set_object")
    assert {"/meshcat/sim/base/ball", "/meshcat/sim/arm/block", "/meshcat/ref/base/rod",
            "/meshcat/floor"} <= objects
    anims = [c for c in cmds if c["type"] == "set_animation"]
    assert len(anims) == 1
    clips = {a["path"]: a["clip"] for a in anims[0]["animations"]}
    assert len(clips) == 4
    for clip_data in clips.values():
        assert len(clip_data["tracks"]) == 2
        assert all(len(t["keys"]) == 9 for t in clip_data["tracks"])
    embed = viewer.animation_html(height=300)
    assert "<iframe srcdoc=" in embed.data and "MeshCat.Viewer" in embed.data
    viewer.close()  # does not stop a server it did not start
    assert server_vis.window.server_proc.poll() is None


def test_html_screenshot(server_vis, tiny_file, tmp_path):
    if find_chromium() is None:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    server_vis.delete()  # scene left by other tests
    viewer = CharViewer(vis=server_vis)
    viewer.clear_animation()
    viewer.add_character("sim", tiny_file)  # pure red geoms
    pos, rot = clip(10, 0.0, 0.3)
    with_char = viewer.export_html(str(tmp_path / "char.html"), {"sim": (pos, rot)}, fps=30)
    viewer.remove_character("sim")
    viewer.clear_animation()
    without = viewer.export_html(str(tmp_path / "empty.html"))
    jobs = [(with_char, str(tmp_path / "char.png")), (without, str(tmp_path / "empty.png"))]
    with ThreadPoolExecutor(2) as pool:  # two browsers side by side keep the test short
        pngs = list(pool.map(lambda job: screenshot_html(job[0], job[1], 480, 360, 1000), jobs))
    imgs = [read_png(png) for png in pngs]  # [H, W, 3] each
    red = [color_fraction(img, (1.0, 0.0, 0.0)) for img in imgs]
    assert image_diff_fraction(imgs[1]) > 0.1  # sky and floor rendered: WebGL works
    assert red[0] > 0.003, "character not visible: red fraction %g" % red[0]
    assert red[1] < 1e-4, "red pixels without the character: %g" % red[1]


def test_a_terminated_visualized_run_leaves_no_meshcat_server(tmp_path):
    """`timeout -s TERM` on a --visualize run: the run closes its env, which stops the meshcat server it
    started (found by a tag in the environment every child inherits)."""
    import signal
    import subprocess
    import sys
    import time

    from mimickit.viz.screenshot import _tagged_pids
    tag = "viewer-%d" % os.getpid()
    env = dict(os.environ, MIMICKIT_SCREENSHOT_TAG=tag)
    proc = subprocess.Popen([sys.executable, "mimickit/run.py", "--env_config", "data/envs/char_humanoid_env.yaml",
                             "--mode", "test", "--visualize", "true", "--test_episodes", "100000"],
                            cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # wait until the viewer is up
            if "meshcat viewer" in line:
                break
        servers = [p for p in _tagged_pids(tag) if p != proc.pid]
        assert servers, "the run started no meshcat server"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.time() + 10
        while time.time() < deadline and [p for p in _tagged_pids(tag) if process_alive(p)]:
            time.sleep(0.2)
        assert not [p for p in _tagged_pids(tag) if process_alive(p)], "meshcat server left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _tagged_pids(tag):
            os.kill(p, signal.SIGKILL)


def test_widget_window_keeps_the_scene_and_replays_it_to_a_new_view():
    """The kernel side of the widget view (mimickit/viz/widget.py): blobs go out as comm messages, the
    scene keeps one entry per path, a view that says "ready" gets all of it in one message."""
    pytest.importorskip("anywidget")
    import meshcat.geometry as mg

    from mimickit.viz.widget import WidgetWindow
    window = WidgetWindow()
    sent = []
    window.widget.send = lambda content, buffers=None: sent.append(list(buffers or []))
    vis = meshcat.Visualizer(window=window)
    vis["a"].set_object(mg.Box([1, 1, 1]))
    vis["a"].set_transform(np.eye(4))
    moved = np.eye(4)
    moved[0, 3] = 2.0
    vis["a"].set_transform(moved)
    vis["b"].set_object(mg.Sphere(0.5))
    vis["b"].delete()
    assert len(sent) == 5 and all(len(b) == 1 for b in sent)  # one message per command
    scene = window.scene_commands()
    assert len(scene) == 2  # a's object and its last transform; b is gone
    assert umsgpack.unpackb(scene[1])["matrix"][12] == pytest.approx(2.0)  # column-major: x translation
    sent.clear()
    window._on_msg(window.widget, {"type": "ready"}, [])
    assert sent == [scene]
    sent.clear()
    with window.hold():
        vis["a"].set_transform(np.eye(4))
        vis["a"].set_transform(moved)
    assert len(sent) == 1 and len(sent[0]) == 2  # a frame's commands in one message
    html = window.get_scene()  # the saved-notebook page: the viewer script and the scene's two commands
    import base64
    assert "new MeshCat.Viewer" in html and html.count("<script>") == 2 and html.count("</script>") == 2
    assert all(base64.b64encode(b).decode() in html for b in window.scene_commands())


def test_a_viewer_only_exported_makes_no_widget(tiny_file):
    """Export-only viewers (notebooks' `with CharViewer() as v: v.animation_html(...)`) send nothing to the
    browser: the widget, with meshcat's 0.85 MB script, is made when the view is shown."""
    pytest.importorskip("anywidget")
    with CharViewer(live="widget") as viewer:
        viewer.add_character("sim", tiny_file)
        html = viewer.static_html()
        assert viewer.vis.window._widget is None and "new MeshCat.Viewer" in html
        assert viewer.show(height=300).height == 300 and viewer.vis.window._widget is not None


def test_link_frame_links_a_slider_to_the_views_animation_frame(tiny_file):
    ipywidgets = pytest.importorskip("ipywidgets")
    with CharViewer(live="widget") as viewer:
        viewer.add_character("a", tiny_file)
        slider = ipywidgets.IntSlider(value=7, min=0, max=20)
        link = viewer.link_frame(slider, 24.0)
        view = viewer.widget
        assert view.anim_fps == 24.0
        assert (link.source, link.target) == ((slider, "value"), (view, "anim_frame"))
        other = ipywidgets.IntSlider()
        second = viewer.link_frame(other, 30.0)  # one slider at a time: the first link is ended
        assert second.target == (view, "anim_frame") and view.anim_fps == 30.0
        assert link.comm is None and second.comm is not None  # unlink() closed the first link's widget
    with CharViewer(live="server") as server:
        with pytest.raises(RuntimeError, match="widget view"):
            server.link_frame(ipywidgets.IntSlider(), 30.0)
