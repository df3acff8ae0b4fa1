"""A meshcat view that lives in the notebook as a widget: no server, no port.

meshcat's Python ``Visualizer`` sends scene commands (msgpack blobs) to a ``window``; its own window
forwards them to a server process that a browser tab must reach over a websocket on 127.0.0.1:7000,
which fails wherever the browser and the kernel are on different machines (JupyterHub, SSH, Colab, VS
Code). ``WidgetWindow`` is a window that sends the same blobs over the widget's comm channel instead,
wherever ipywidgets work, to ``MeshcatWidget``, whose browser side runs meshcat's own viewer script (the
``meshcat`` package's ``viewer/dist/main.min.js``) and hands each blob to ``viewer.handle_command_bytearray``.

The window also keeps the scene (one entry per path: object, properties, transform, animation, as the
meshcat server does), so that a view drawn later (a re-rendered cell, a second view of the widget) gets
the whole scene, and ``get_scene`` builds the self-contained HTML page of saved notebooks without a server.

    vis = meshcat.Visualizer(window=WidgetWindow())
    display(vis.window.widget)
"""
import base64
import contextlib
import os

import anywidget
import traitlets
import umsgpack
from meshcat.servers.tree import SceneTree, find_node, walk

_BUNDLE_FILE = os.path.join(os.path.dirname(__import__("meshcat").__file__), "viewer", "dist", "main.min.js")

_ESM = """
function meshcatModule(bundle) {
  if (!globalThis.MeshCat) {
    (0, eval)(bundle);  // meshcat's UMD bundle defines the global MeshCat
  }
  return globalThis.MeshCat;
}

export default {
  render({ model, el }) {
    const MeshCat = meshcatModule(model.get("_bundle"));
    const pane = document.createElement("div");
    pane.className = "mimickit-meshcat";
    pane.style.width = "100%";
    pane.style.height = model.get("height") + "px";
    pane.style.position = "relative";
    el.appendChild(pane);
    const viewer = new MeshCat.Viewer(pane);
    let frames = 0, seeks = 0;
    // anim_frame >= 0: the animation stands at that frame (a linked slider moves it here, in the page)
    const seek = () => {
      const frame = model.get("anim_frame");
      if (frame < 0 || !viewer.animator || viewer.animator.actions.length === 0) return;
      viewer.animator.pause();  // the animator's clock stops; its actions are made active to hold a pose
      for (const action of viewer.animator.actions) {
        if (!action.isScheduled()) action.play();
      }
      viewer.animator.seek(frame / model.get("anim_fps"));
      seeks += 1;
      pane.dataset.seeks = String(seeks);  // read by the browser test
    };
    const onMsg = (msg, buffers) => {
      for (const b of buffers) {
        viewer.handle_command_bytearray(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      }
      frames += 1;
      pane.dataset.messages = String(frames);  // read by the browser test
      seek();  // a new animation starts at the linked frame
    };
    model.on("msg:custom", onMsg);
    model.on("change:anim_frame", seek);
    model.send({ type: "ready" });  // the kernel answers with the whole scene
    return () => {
      model.off("msg:custom", onMsg);
      model.off("change:anim_frame", seek);
    };
  },
};
"""


class MeshcatWidget(anywidget.AnyWidget):
    """The browser side: meshcat's viewer in the notebook's output, fed over the widget's comm."""
    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    _bundle = traitlets.Unicode("").tag(sync=True)  # meshcat's viewer script, sent once per widget
    height = traitlets.Int(400).tag(sync=True)
    # the frame the animation stands at (-1: it plays); CharViewer.link_frame links a slider to it
    anim_frame = traitlets.Float(-1.0).tag(sync=True)
    anim_fps = traitlets.Float(30.0).tag(sync=True)

    def __init__(self, height=400, **kwargs):
        with open(_BUNDLE_FILE, encoding="utf-8") as f:
            bundle = f.read()
        super().__init__(_bundle=bundle, height=int(height), **kwargs)


class WidgetWindow:
    """A meshcat window (what ``meshcat.Visualizer(window=...)`` sends to) backed by a MeshcatWidget."""
    web_url = None  # no server: nothing to open in another tab

    def __init__(self, widget=None, height=400):
        self._widget, self._height = widget, height
        self.tree = SceneTree()
        self._held = None  # blobs collected by hold(), sent as one message
        if widget is not None:
            widget.on_msg(self._on_msg)

    @property
    def widget(self):
        """The view, made on first use: a viewer only exported to HTML never sends meshcat's script."""
        if self._widget is None:
            self._widget = MeshcatWidget(height=self._height)
            self._widget.on_msg(self._on_msg)
        return self._widget

    # --- what meshcat.Visualizer calls ---
    def send(self, command):
        data = command.lower()
        blob = umsgpack.packb(data)
        self._record(data["type"], data.get("path", ""), blob)
        if self._held is not None:
            self._held.append(blob)
        elif self._widget is not None:  # no view yet: the scene waits for its "ready"
            self._widget.send({"type": "commands"}, buffers=[blob])

    def get_scene(self):
        """A self-contained HTML page of the scene (meshcat's viewer script and every command inline)."""
        return scene_html(self.scene_commands())

    def close(self):
        if self._widget is not None:
            self._widget.close()

    # --- batching and replay ---
    @contextlib.contextmanager
    def hold(self):
        """Commands sent inside the block go out as one message (a character's bodies in one frame)."""
        outer = self._held is not None
        if not outer:
            self._held = []
        try:
            yield
        finally:
            if not outer:
                held, self._held = self._held, None
                if held and self._widget is not None:
                    self._widget.send({"type": "commands"}, buffers=held)

    def scene_commands(self):
        """[blob]: the scene as it stands, in the order a new view needs it."""
        out = []
        for node in walk(self.tree):
            if node.object is not None:
                out.append(node.object)
            out += node.properties
            for blob in (node.transform, node.animation):
                if blob is not None:
                    out.append(blob)
        return out

    def _record(self, kind, path, blob):
        parts = [p for p in str(path).split("/") if p]
        if kind == "delete":
            if parts:
                parent = find_node(self.tree, parts[:-1])
                parent.pop(parts[-1], None)
            else:
                self.tree = SceneTree()
            return
        node = find_node(self.tree, parts)
        if kind == "set_object":
            node.object, node.properties = blob, []
        elif kind == "set_property":
            node.properties.append(blob)
        elif kind == "set_transform":
            node.transform = blob
        elif kind == "set_animation":
            node.animation = blob

    def _on_msg(self, widget, content, buffers):
        if isinstance(content, dict) and content.get("type") == "ready":
            scene = self.scene_commands()
            if scene:
                self.widget.send({"type": "commands"}, buffers=scene)


def scene_html(blobs):
    """The page of a meshcat scene: meshcat's viewer script, then blobs [bytes] replayed in order."""
    with open(_BUNDLE_FILE, encoding="utf-8") as f:
        bundle = f.read().replace("</script", "<\\/script")
    commands = ",\n".join('"%s"' % base64.b64encode(b).decode("ascii") for b in blobs)
    return """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>MeshCat</title>
<style>body { margin: 0; } #meshcat-pane { width: 100vw; height: 100vh; overflow: hidden; }</style></head>
<body>
<div id="meshcat-pane"></div>
<script>%s</script>
<script>
var viewer = new MeshCat.Viewer(document.getElementById("meshcat-pane"));
[%s].forEach(function (c) {
  viewer.handle_command_bytearray(Uint8Array.from(atob(c), function (ch) { return ch.charCodeAt(0); }));
});
</script>
</body>
</html>
""" % (bundle, commands)
