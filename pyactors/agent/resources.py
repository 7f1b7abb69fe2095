"""What an agent offers, as Mesos's agent decides it: resources named in its
configuration are taken as given; the standard ones it does not name (cpus,
mem, disk, ports) are detected from its Ray node, divided evenly when one
node hosts several agents (local clusters, tests).

Detection follows Mesos's defaults: all the node's CPUs, its memory, the
free disk of the work dir, ports [31000-32000]; several agents on a node
each get a disjoint slice of the port range so their tasks cannot collide.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pyactors._core import Resources
from pyactors.errors import InvalidArgumentError
from pyactors.runtime.ray_calls import RayNode

PORTS_START = 31000
PORTS_PER_NODE = 1001  # Mesos's default range, [31000-32000]
_MB = 2**20


def detect(node: RayNode, work_dir: Path, slice_index: int = 0, slices: int = 1) -> Resources:
    """The node's resources, or slice `slice_index` of `slices` even ones."""
    if not 0 <= slice_index < slices:
        raise InvalidArgumentError(f"slice {slice_index} of {slices} does not exist")
    cpus = node.resources.get("CPU", 0.0) / slices
    mem = node.resources.get("memory", 0.0) / _MB / slices
    work_dir.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(work_dir).free / _MB / slices
    width = PORTS_PER_NODE // slices
    if width < 1:
        raise InvalidArgumentError(f"{slices} agents cannot share one node's port range")
    first = PORTS_START + slice_index * width
    parts = [f"cpus:{cpus:.3f}", f"mem:{mem:.0f}", f"disk:{disk:.0f}"]
    gpus = node.resources.get("GPU", 0.0) / slices
    if gpus:
        parts.append(f"gpus:{gpus:.3f}")
    parts.append(f"ports:[{first}-{first + width - 1}]")
    return Resources.parse(";".join(parts))


def resolve(configured: str | None, detected: Resources) -> Resources:
    """The configured resources, plus every detected one whose name the
    configuration does not mention (an explicit `cpus:1` keeps the detected
    mem, disk and ports)."""
    if configured is None:
        return detected
    given = Resources.parse(configured)
    named = set(given.names())
    for name in detected.names():
        if name not in named:
            given = given + Resources.from_dict({name: detected.to_dict()[name]})
    return given


def attributes(node: RayNode, configured: dict[str, str] | None = None) -> dict[str, str]:
    """The node's identity and labels as agent attributes (for placement
    constraints), overridden by configured ones."""
    found = {
        "ray_node_id": node.node_id,
        "ray_node_address": node.address,
        **{key.replace("/", "_"): value for key, value in node.labels.items()},
    }
    found.pop("ray.io_node-id", None)  # the same as ray_node_id
    return {**found, **(configured or {})}
