"""Drawing MJCF characters with meshcat: live viewer, clip playback, static HTML export.

    viewer = CharViewer()
    viewer.add_character("sim", "data/assets/humanoid/humanoid.xml")
    viewer.set_pose("sim", body_pos, body_rot)  # [B, 3], [B, 4] xyzw, MJCF body order
"""
from .char_viewer import CharViewer, close_visualizer
from .geoms import CharModel, capsule_mesh, checker_floor
from .html import iframe_html, srcdoc_iframe
from .screenshot import find_chromium, image_diff_fraction, screenshot_html
from .transforms import pose_to_matrix, quat_xyzw_to_matrix, to_numpy

__all__ = [
    "CharViewer", "close_visualizer", "CharModel", "capsule_mesh", "checker_floor",
    "iframe_html", "srcdoc_iframe", "find_chromium", "image_diff_fraction", "screenshot_html",
    "pose_to_matrix", "quat_xyzw_to_matrix", "to_numpy",
]
