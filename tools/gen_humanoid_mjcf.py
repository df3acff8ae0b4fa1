"""Writes data/assets/humanoid/humanoid.xml, our MJCF of the DeepMimic humanoid3d character.

Facts taken from the character: link lengths, geom sizes and masses (the reference URDF is at 4x
scale, so lengths here are a quarter of its numbers), PD gains and torque limits. Frame: z up,
x forward, y left. Rest pose: standing, arms down (DeepMimic's rest pose). Three-DoF joints are
three hinges in x, z, y order (abduction, twist, flexion); limits enclose every shipped clip.
Run: python tools/gen_humanoid_mjcf.py

``--tpose`` writes tests/assets/humanoid_tpose.xml instead: the same body in other conventions (MimicKit's
and Isaac Gym's), for the tests of character loading. Rest pose a T-pose (the upper arms' frames turned
so that the arms point sideways), the root body at the origin, three-DoF joints as hinges in x, y, z
order (limits widened by 0.3 rad, the shoulders free to +-3.1), <motor> actuators whose gear is the
torque limit, PD gains as the joints' stiffness and damping, the legs' torque limits also given as
actuatorfrcrange.

``--ball`` writes tests/assets/humanoid_ball.xml: our humanoid with each three-DoF joint one ball joint (its
range the largest of the three hinges' limits), driven by three <position> servos with gears along x, y, z.
"""
import argparse
import os

# name: (kp, torque limit, [(axis, lo, hi), ...])
JOINTS = {
    "abdomen": (1000, 200, [("x", -0.8, 0.8), ("z", -0.7, 0.6), ("y", -0.5, 1.4)]),
    "neck": (100, 50, [("x", -1.2, 1.2), ("z", -1.3, 1.3), ("y", -1.3, 1.0)]),
    "right_shoulder": (400, 100, [("x", -2.9, 1.5), ("z", -2.2, 1.5), ("y", -3.1, 2.0)]),
    "left_shoulder": (400, 100, [("x", -1.5, 2.9), ("z", -1.5, 2.2), ("y", -3.1, 2.0)]),
    "right_elbow": (300, 60, [("-y", -0.1, 2.8)]),
    "left_elbow": (300, 60, [("-y", -0.1, 2.8)]),
    "right_hip": (500, 200, [("x", -1.5, 1.2), ("z", -1.2, 1.2), ("y", -2.7, 0.7)]),
    "left_hip": (500, 200, [("x", -1.2, 1.5), ("z", -1.2, 1.2), ("y", -2.7, 0.7)]),
    "right_knee": (500, 150, [("y", -0.25, 2.9)]),
    "left_knee": (500, 150, [("y", -0.25, 2.9)]),
    "right_ankle": (400, 90, [("x", -0.9, 1.0), ("z", -1.1, 1.1), ("y", -1.2, 1.2)]),
    "left_ankle": (400, 90, [("x", -1.0, 0.9), ("z", -1.1, 1.1), ("y", -1.2, 1.2)]),
}
AXES = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1", "-y": "0 -1 0"}


def hinges_of(name, variant):
    """[(joint name, axis, lo, hi)] of one joint, in the variant's hinge order and limits."""
    hinges = JOINTS[name][2]
    if variant == "tpose" and len(hinges) == 3:
        wide = {axis: (-3.1, 3.1) if "shoulder" in name else (lo - 0.3, hi + 0.3) for axis, lo, hi in hinges}
        hinges = [(axis,) + wide[axis] for axis in ("x", "y", "z")]
    return [(name if len(hinges) == 1 else "%s_%s" % (name, axis), axis, lo, hi) for axis, lo, hi in hinges]


def joint_xml(name, indent, variant):
    kp, tau, hinges = JOINTS[name]
    if variant == "ball" and len(hinges) == 3:  # one ball joint; its range is a cone: the largest hinge limit
        reach = max(max(abs(lo), abs(hi)) for _, lo, hi in hinges)
        return '%s<joint name="%s" type="ball" range="0 %.2f"/>' % (" " * indent, name, reach)
    lines = []
    for jname, axis, lo, hi in hinges_of(name, variant):
        extra = ""
        if variant == "tpose":  # PD gains as the joint's spring and damper; the legs' torque limits on the joint too
            extra = ' stiffness="%d" damping="%g"' % (kp, kp / 10.0)
            if name.split("_")[-1] in ("hip", "knee", "ankle"):
                extra += ' actuatorfrcrange="%d %d"' % (-tau, tau)
        lines.append('%s<joint name="%s" type="hinge" axis="%s" range="%.2f %.2f"%s/>'
                     % (" " * indent, jname, AXES[axis], lo, hi, extra))
    return "\n".join(lines)


def actuators_xml(variant):
    lines = []
    for name, (kp, tau, hinges) in JOINTS.items():
        if variant == "ball" and len(hinges) == 3:  # three servos on the ball, one per axis of its exp map
            for axis in ("x", "y", "z"):
                lines.append('    <position name="%s_%s" joint="%s" gear="%s" kp="%d" kv="%g" forcerange="%d %d"/>'
                             % (name, axis, name, AXES[axis], kp, kp / 10.0, -tau, tau))
            continue
        for jname, _, _, _ in hinges_of(name, variant):
            if variant == "tpose":
                lines.append('    <motor name="%s" joint="%s" gear="%d" ctrlrange="-1 1"/>' % (jname, jname, tau))
            else:
                lines.append('    <position name="%s" joint="%s" kp="%d" kv="%g" forcerange="%d %d"/>'
                             % (jname, jname, kp, kp / 10.0, -tau, tau))
    return "\n".join(lines)


def arm(side, sign, variant):
    y = 0.183110 * sign
    # T-pose: the upper arm's frame turned 90 deg about x, so that its -z axis (the arm) points sideways
    quat = ' quat="0.70710678 %.8f 0 0"' % (0.70710678 * sign) if variant == "tpose" else ""
    return f"""
        <body name="{side}_upper_arm" pos="-0.024050 {y:.6f} 0.243500"{quat}>
{joint_xml(side + "_shoulder", 10, variant)}
          <geom name="{side}_upper_arm" type="capsule" fromto="0 0 -0.05 0 0 -0.23" size="0.045" mass="1.5"/>
          <body name="{side}_lower_arm" pos="0 0 -0.274788">
{joint_xml(side + "_elbow", 12, variant)}
            <geom name="{side}_lower_arm" type="capsule" fromto="0 0 -0.0525 0 0 -0.1875" size="0.04" mass="1"/>
            <body name="{side}_hand" pos="0 0 -0.258947">
              <geom name="{side}_hand" type="sphere" size="0.04" mass="0.5"/>
            </body>
          </body>
        </body>"""


def leg(side, sign, variant):
    y = 0.084887 * sign
    return f"""
      <body name="{side}_thigh" pos="0 {y:.6f} 0">
{joint_xml(side + "_hip", 8, variant)}
        <geom name="{side}_thigh" type="capsule" fromto="0 0 -0.06 0 0 -0.36" size="0.055" mass="4.5"/>
        <body name="{side}_shin" pos="0 0 -0.421546">
{joint_xml(side + "_knee", 10, variant)}
          <geom name="{side}_shin" type="capsule" fromto="0 0 -0.045 0 0 -0.355" size="0.05" mass="3"/>
          <body name="{side}_foot" pos="0 0 -0.409870">
{joint_xml(side + "_ankle", 12, variant)}
            <geom name="{side}_foot" type="box" pos="0.045 0 -0.0225" size="0.0885 0.045 0.0275" mass="1"/>
          </body>
        </body>
      </body>"""


def build(tpose=False, ball=False):
    variant = "tpose" if tpose else "ball" if ball else "ours"
    if ball:
        about = ("a test variant with ball joints (gen_humanoid_mjcf.py --ball): each three-DoF joint one ball\n"
                 "     joint driven by three <position> servos whose gears are its x, y and z axes")
        root_z = "0.9"
    elif tpose:
        about = ("a test variant in MimicKit's conventions (gen_humanoid_mjcf.py --tpose): T-pose rest, root\n"
                 "     at the origin, x-y-z hinges, <motor> actuators, PD gains as joint stiffness and damping")
        root_z = "0"
    else:
        about = "rest pose standing with arms down; 15 bodies, 28 actuated DoFs"
        root_z = "0.9"
    # the T-pose variant's joints carry their own damping (its PD gains), and it has no <position> actuators
    defaults = ['<joint armature="0.01" limited="true"/>' if tpose else
                '<joint armature="0.01" damping="0" limited="true"/>',
                '<geom contype="1" conaffinity="1" condim="3" friction="1.0 0.01 0.001" rgba="0.80 0.62 0.45 1"/>']
    if not tpose:
        defaults.append('<position ctrllimited="false" forcelimited="true"/>')
    defaults = "\n".join("    " + line for line in defaults)
    return f"""<!-- MimicKit humanoid: the DeepMimic humanoid3d character written as MJCF by the MimicKit
     project. Generated by tools/gen_humanoid_mjcf.py; edit that script, not this file.
     z up, x forward, y left; {about}. -->
<mujoco model="humanoid">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.00833333" integrator="implicitfast"/>
  <default>
{defaults}
  </default>
  <worldbody>
    <body name="pelvis" pos="0 0 {root_z}">
      <freejoint name="root"/>
      <geom name="pelvis" type="sphere" pos="0 0 0.07" size="0.09" mass="6"/>
      <body name="torso" pos="0 0 0.236151">
{joint_xml("abdomen", 8, variant)}
        <geom name="torso" type="sphere" pos="0 0 0.12" size="0.11" mass="14"/>
        <body name="head" pos="0 0 0.223894">
{joint_xml("neck", 10, variant)}
          <geom name="head" type="sphere" pos="0 0 0.175" size="0.1025" mass="2"/>
        </body>{arm("right", -1, variant)}{arm("left", 1, variant)}
      </body>{leg("right", -1, variant)}{leg("left", 1, variant)}
    </body>
  </worldbody>
  <actuator>
{actuators_xml(variant)}
  </actuator>
</mujoco>
"""


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tpose", action="store_true", help="write the test variant tests/assets/humanoid_tpose.xml")
    p.add_argument("--ball", action="store_true", help="write the test variant tests/assets/humanoid_ball.xml")
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = (os.path.join(root, "tests", "assets", "humanoid_tpose.xml") if args.tpose
           else os.path.join(root, "tests", "assets", "humanoid_ball.xml") if args.ball
           else os.path.join(root, "data", "assets", "humanoid", "humanoid.xml"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(build(args.tpose, args.ball))
    print("wrote", out)
