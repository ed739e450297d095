"""Which ManiSkill3 tasks run offline, which do not and why, and each task's instruction.

Measured with ``mani-skill==3.0.1`` / ``sapien==3.0.3`` on the CPU backend with no network
(make, reset, 5 random steps): 42 tasks run from the assets the wheel ships; the others
need a download (robot meshes, YCB objects, PartNet-Mobility, scene datasets) or an extra
package. They are registered too, so ``make`` names what is missing instead of starting a
download (embodied-rl never downloads).
"""

from __future__ import annotations

import re

# ManiSkill id -> (max_episode_steps, instruction). The instruction is the sentence VLA policies
# read; tasks without a hand-written one get a sentence made from the id.
OFFLINE_TASKS: dict[str, tuple[int, str]] = {
    "PushCube-v1": (50, "push the cube to the goal region"),
    "PullCube-v1": (50, "pull the cube to the goal region"),
    "PickCube-v1": (50, "pick up the cube and move it to the goal position"),
    "PokeCube-v1": (50, "use the peg to poke the cube to the goal"),
    "StackCube-v1": (50, "stack the red cube on the green cube"),
    "StackPyramid-v1": (250, "stack the three cubes into a pyramid"),
    "PegInsertionSide-v1": (100, "insert the peg into the hole in the box"),
    "PlugCharger-v1": (200, "plug the charger into the receptacle"),
    "LiftPegUpright-v1": (50, "lift the peg and stand it upright"),
    "PlaceSphere-v1": (50, "place the sphere into the bin"),
    "RollBall-v1": (80, "push the ball so it rolls to the goal region"),
    "PullCubeTool-v1": (100, "use the tool to pull the cube closer"),
    "PushT-v1": (100, "push the T-shaped block onto the target"),
    "PickCubeSO100-v1": (50, "pick up the cube and move it to the goal position"),
    "SO100GraspCube-v1": (64, "grasp the cube"),
    "DrawTriangle-v1": (300, "draw the triangle on the canvas"),
    "TableTopFreeDraw-v1": (1000, "draw on the table"),
    "FMBAssembly1Easy-v1": (500, "assemble the parts on the board"),
    "RotateValveLevel0-v1": (80, "turn the valve"),
    "RotateValveLevel1-v1": (150, "turn the valve"),
    "RotateValveLevel2-v1": (150, "turn the valve"),
    "RotateValveLevel3-v1": (150, "turn the valve"),
    "RotateValveLevel4-v1": (300, "turn the valve"),
    "RotateSingleObjectInHandLevel0-v1": (300, "rotate the object in the hand"),
    "RotateSingleObjectInHandLevel1-v1": (300, "rotate the object in the hand"),
    "TriFingerRotateCubeLevel0-v1": (250, "rotate the cube to the goal pose"),
    "TriFingerRotateCubeLevel1-v1": (250, "rotate the cube to the goal pose"),
    "TriFingerRotateCubeLevel2-v1": (250, "rotate the cube to the goal pose"),
    "TriFingerRotateCubeLevel3-v1": (250, "rotate the cube to the goal pose"),
    "TriFingerRotateCubeLevel4-v1": (250, "rotate the cube to the goal pose"),
    "UnitreeG1PlaceAppleInBowl-v1": (100, "place the apple in the bowl"),
    "UnitreeG1TransportBox-v1": (100, "carry the box to the other table"),
    "UnitreeG1Stand-v1": (1000, "stand up and keep balance"),
    "MS-AntRun-v1": (1000, "run forward"),
    "MS-AntWalk-v1": (1000, "walk forward"),
    "MS-CartpoleBalance-v1": (1000, "balance the pole"),
    "MS-CartpoleSwingUp-v1": (1000, "swing the pole up and balance it"),
    "MS-HopperHop-v1": (600, "hop forward"),
    "MS-HopperStand-v1": (600, "stand up"),
    "MS-HumanoidRun-v1": (1000, "run forward"),
    "MS-HumanoidStand-v1": (1000, "stand up"),
    "MS-HumanoidWalk-v1": (1000, "walk forward"),
}

# Tasks whose reset is not reproducible within one env instance: after reset(seed=k) the first step
# depends on the previous episode (UnitreeG1Stand: every time, max |state difference| 0.13 after one
# step; RotateSingleObjectInHandLevel0: in 2 of 3 test runs). ManiSkill's enhanced_determinism=True
# did not change UnitreeG1Stand. Equal seeds still give equal initial observations.
NONDETERMINISTIC_RESET = ("UnitreeG1Stand-v1", "RotateSingleObjectInHandLevel0-v1")

_ROBOT_ASSET = "the robot's meshes (asset {0!r})"
_DOWNLOAD = "python -m mani_skill.utils.download_asset {0}"
# ManiSkill id -> (what is missing, how to get it), measured as above.
UNAVAILABLE_TASKS: dict[str, tuple[str, str]] = {
    "AnymalC-Reach-v1": (_ROBOT_ASSET.format("anymal_c"), _DOWNLOAD.format("anymal_c")),
    "AnymalC-Spin-v1": (_ROBOT_ASSET.format("anymal_c"), _DOWNLOAD.format("anymal_c")),
    "UnitreeGo2-Reach-v1": (_ROBOT_ASSET.format("unitree_go2"), _DOWNLOAD.format("unitree_go2")),
    "UnitreeH1Stand-v1": (_ROBOT_ASSET.format("unitree_h1"), _DOWNLOAD.format("unitree_h1")),
    "PickCubeWidowXAI-v1": (_ROBOT_ASSET.format("widowxai"), _DOWNLOAD.format("widowxai")),
    "AssemblingKits-v1": ("the kit meshes (asset 'assembling_kits')", _DOWNLOAD.format("assembling_kits")),
    "InsertFlower-v1": ("the flower and vase meshes", _DOWNLOAD.format("InsertFlower-v1")),
    "PickSingleYCB-v1": ("the YCB object meshes (asset 'ycb')", _DOWNLOAD.format("ycb")),
    "PickClutterYCB-v1": (
        "the YCB meshes and clutter configs",
        _DOWNLOAD.format("ycb") + " && " + _DOWNLOAD.format("pick_clutter_ycb_configs"),
    ),
    "RotateSingleObjectInHandLevel2-v1": ("the YCB object meshes (asset 'ycb')", _DOWNLOAD.format("ycb")),
    "RotateSingleObjectInHandLevel3-v1": ("the YCB object meshes (asset 'ycb')", _DOWNLOAD.format("ycb")),
    "OpenCabinetDrawer-v1": (
        "PartNet-Mobility cabinets (asset 'partnet_mobility_cabinet')",
        _DOWNLOAD.format("partnet_mobility_cabinet"),
    ),
    "OpenCabinetDoor-v1": (
        "PartNet-Mobility cabinets (asset 'partnet_mobility_cabinet')",
        _DOWNLOAD.format("partnet_mobility_cabinet"),
    ),
    "TurnFaucet-v1": (
        "PartNet-Mobility faucets (asset 'partnet_mobility_faucet')",
        _DOWNLOAD.format("partnet_mobility_faucet"),
    ),
    "RoboCasaKitchen-v1": ("the RoboCasa scene assets", _DOWNLOAD.format("RoboCasa")),
    "PutCarrotOnPlateInScene-v1": ("the Bridge real2sim assets", _DOWNLOAD.format("bridge_v2_real2sim")),
    "PutEggplantInBasketScene-v1": ("the Bridge real2sim assets", _DOWNLOAD.format("bridge_v2_real2sim")),
    "PutSpoonOnTableClothInScene-v1": ("the Bridge real2sim assets", _DOWNLOAD.format("bridge_v2_real2sim")),
    "StackGreenCubeOnYellowCubeBakedTexInScene-v1": (
        "the Bridge real2sim assets",
        _DOWNLOAD.format("bridge_v2_real2sim"),
    ),
    "SceneManipulation-v1": ("the ReplicaCAD scenes", _DOWNLOAD.format("ReplicaCAD")),
    "ReplicaCAD_SceneManipulation-v1": ("the ReplicaCAD scenes", _DOWNLOAD.format("ReplicaCAD")),
    "ArchitecTHOR_SceneManipulation-v1": ("the AI2-THOR scenes", _DOWNLOAD.format("AI2THOR")),
    "DrawSVG-v1": ("the svgpathtools package", "pip install svgpathtools"),
    "TwoRobotPickCube-v1": (
        "support for multi-robot (dict) action spaces in embodied-rl",
        "(not supported yet)",
    ),
    "TwoRobotStackCube-v1": (
        "support for multi-robot (dict) action spaces in embodied-rl",
        "(not supported yet)",
    ),
}
for _split in ("Train", "Val"):
    for _scene in ("TidyHouse", "PrepareGroceries", "SetTable"):
        UNAVAILABLE_TASKS[f"ReplicaCAD{_scene}{_split}_SceneManipulation-v1"] = (
            "the ReplicaCAD rearrange scenes",
            _DOWNLOAD.format("ReplicaCADRearrange"),
        )


class TaskUnavailableError(RuntimeError):
    """A ManiSkill task needs something this machine does not have."""


def check_available(task: str) -> None:
    """Raise :class:`TaskUnavailableError` naming what ``task`` needs and how to get it."""
    if task in UNAVAILABLE_TASKS:
        what, how = UNAVAILABLE_TASKS[task]
        raise TaskUnavailableError(
            f"ManiSkill task {task} is unavailable: needs {what}; get it with `{how}` on a machine with "
            "network (embodied-rl never downloads), then copy ~/.maniskill/data (or $MS_ASSET_DIR) here."
        )


def task_instruction(task: str) -> str:
    """The task's sentence (hand-written for the listed tasks, else made from the id)."""
    if task in OFFLINE_TASKS:
        return OFFLINE_TASKS[task][1]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", task.split("-v")[0].removeprefix("MS-"))
    return words.replace("_", " ").lower()


def our_name(task: str) -> str:
    """Our registered name for a ManiSkill id: ``PushCube-v1`` -> ``ManiSkill-PushCube-v1``."""
    return f"ManiSkill-{task}"
