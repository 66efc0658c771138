"""`saerl plan`: what a config or sweep needs, in build order, with keys and what already exists.

Nothing is built or read: a stage node counts as built when its manifest is in the store (the
executor verifies it before use), a run by its folder's status.json.
"""

from __future__ import annotations

from pathlib import Path

from saerl.launch.graph import Node, Plan
from saerl.store import MANIFEST


def node_state(node: Node, store_root: Path) -> str:
    if node.external:
        return "external"
    if node.stage == "run":
        from saerl.rl.run import status

        config = node.params["config"]
        return str(status(Path(config["runs_dir"]) / config["name"] / node.params["name"])["state"])
    return "built" if (store_root / node.stage / node.key / MANIFEST).is_file() else "missing"


def describe(plan: Plan, store_root: Path, title: str) -> str:
    stages = [n for n in plan.nodes if n.stage != "run"]
    runs = [n for n in plan.nodes if n.stage == "run"]
    states = {n.id: node_state(n, store_root) for n in plan.nodes}
    built = sum(states[n.id] in ("built", "external") for n in stages)
    lines = [
        f"{title}: {len(runs)} run(s), {len(stages)} stage node(s) ({built} built or external), "
        "in build order",
        f"  {'#':>3}  {'stage':<11} {'node':<28} {'key':<16}  {'resource':<8} {'state':<8}  used by",
    ]
    for i, n in enumerate(stages, 1):
        users = plan.users.get(n.id, 0)
        lines.append(
            f"  {i:>3}  {n.stage:<11} {n.label.removeprefix(n.stage + ' '):<28} {n.key[:16]:<16}  "
            f"{n.resource:<8} {states[n.id]:<8}  {users} target(s)"
        )
    if runs:
        lines.append("  runs (each needs: data, its curriculum, its target model):")
        for n in runs:
            cur = n.inputs["curriculum"]
            needs_sae = "signals" in cur.inputs
            lines.append(
                f"    {n.params['name']:<44} {states[n.id]:<8} curriculum {cur.key[:10]}"
                f"{' (SAE signals)' if needs_sae else ' (no SAE)'}, target {n.inputs['target'].label[6:]}"
            )
    return "\n".join(lines)
