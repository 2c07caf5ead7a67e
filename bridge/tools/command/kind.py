"""The ``command`` source kind: ``[[tools.command]]`` entries as sources and their checks."""

from __future__ import annotations

from bridge.tools.child import child_problems
from bridge.tools.command.config import CommandToolConfig
from bridge.tools.command.source import command_source
from bridge.tools.curation import curate, curation_problems
from bridge.tools.kinds import Checked, LoadContext, Problem, SecretUse, SourceKind
from bridge.tools.registry import StaticSource
from bridge.tools.secrets import vault_reference


def build(entry: CommandToolConfig, context: LoadContext) -> StaticSource:
    """The entry's one tool, curated."""
    source = command_source(entry, context.config_dir, context.secrets)
    return StaticSource(name=source.name, specs=curate(source.specs, entry))


def check(entry: CommandToolConfig, context: LoadContext) -> Checked:
    """Curation mistakes, the program and cwd, unused params, and the secrets of ``env``."""
    problems: list[Problem] = curation_problems([entry.name], entry)
    tools = [entry.final_name(entry.name)] if entry.admits(entry.name) else []
    if not tools:
        problems.append(
            (
                "",
                f"allow/deny leave out this command's only tool, {entry.name!r}; "
                "remove the entry instead",
            )
        )
    cwd = entry.cwd or context.config_dir
    problems += child_problems(entry.argv[0], cwd, entry.env, program_key="argv")
    for name in sorted(set(entry.params) - entry.placeholders()):
        problems.append((f"params.{name}", f"not used in argv; add {{{name}}} to argv or drop it"))
    uses = [
        SecretUse(f"env.{variable}", secret, f"env {variable}")
        for variable, value in entry.env.items()
        if (secret := vault_reference(value))
    ]
    return Checked(tools=tools, problems=problems, secrets=uses)


KIND = SourceKind(name="command", config=CommandToolConfig, build=build, check=check, order=20)
