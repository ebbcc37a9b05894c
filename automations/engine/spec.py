"""The workflow spec's shape in one place: a step's id, and what counts as a change.

A spec is a list of ``{"id", "step", "config", "when"?, "otherwise_of"?}``. The engine checks a
spec (pipeline.parse_pipeline); everything else that reads one (retry from the first changed
step, a version's history, masking of secrets, the builder and the run page) asks here which
id a step has and whether it changed, so that the rules cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

# A step id: what references (`fields.total.value`) and StepRun rows name a step by.
STEP_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# The parts of a step whose change makes its result differ, in the words history uses.
_PARTS = ("step", "config", "when", "otherwise_of")


def step_id(item: Any) -> str:
    """A step's id: its `id`, else its kind (a spec written by hand may leave ids out); "" for
    something that is not a step."""
    if not isinstance(item, dict):
        return ""
    found = item.get("id") or item.get("step")
    return found if isinstance(found, str) else ""


def _part(item: dict, name: str) -> Any:
    value = item.get(name)
    if name != "config":
        return value
    # A draft may hold settings that are not an object yet; compare them whole.
    return value if isinstance(value, dict) else ({"settings": value} if value else {})


def fingerprint(item: dict) -> str:
    """One string per step that differs whenever its id or anything that decides its result
    differs (key order inside the settings does not count)."""
    return json.dumps(
        [step_id(item), *(_part(item, name) for name in _PARTS)], sort_keys=True, default=str
    )


def first_change(old: Sequence[dict], new: Sequence[dict]) -> int:
    """The position of the first step that differs between two specs (the shorter length
    when one is the other's beginning)."""
    for position, (before, after) in enumerate(zip(old, new, strict=False)):
        if fingerprint(before) != fingerprint(after):
            return position
    return min(len(old), len(new))


def changes(old: Sequence[dict], new: Sequence[dict]) -> list[str]:
    """What changed between two specs, in words: steps added, removed, reconfigured, moved.

    Uses the same comparison as first_change: a step counts as changed exactly when a retry
    would run it again."""
    before = {step_id(item): item for item in old if isinstance(item, dict)}
    after = {step_id(item): item for item in new if isinstance(item, dict)}
    lines = [f"Added {after[i].get('step')} ({i})" for i in after if i not in before]
    lines += [f"Removed {before[i].get('step')} ({i})" for i in before if i not in after]
    for sid in (i for i in after if i in before):
        lines += _step_changes(sid, before[sid], after[sid])
    kept_old = [i for i in before if i in after]
    kept_new = [i for i in after if i in before]
    if kept_old != kept_new:
        lines.append("Reordered steps: " + " → ".join(kept_new))
    return lines


def _step_changes(sid: str, before: dict, after: dict) -> list[str]:
    if fingerprint(before) == fingerprint(after):
        return []
    lines = []
    if before.get("step") != after.get("step"):
        lines.append(f"Changed {sid} from {before.get('step')} to {after.get('step')}")
    old_config, new_config = _part(before, "config"), _part(after, "config")
    keys = sorted(
        k for k in old_config.keys() | new_config.keys() if old_config.get(k) != new_config.get(k)
    )
    if keys:
        lines.append(f"Changed {sid}: {', '.join(keys)}")
    if before.get("when") != after.get("when") or before.get("otherwise_of") != after.get(
        "otherwise_of"
    ):
        lines.append(f"Changed the condition of {sid}")
    return lines
