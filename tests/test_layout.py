"""How the code refers to itself: every command a message or a doc tells a user to run exists.

No torch: these read source files as text.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"python -m stages\.(\w+)([^`\"'\n)]*)")


def _commands() -> list[tuple[str, str, str]]:
    """(file, stage, flag) for every `python -m stages.<stage> ... --flag` written in the repo."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "stages").glob("*.py"), ROOT / "README.md",
             *(ROOT / "docs").glob("*.md")]
    out = []
    for f in files:
        for m in COMMAND.finditer(f.read_text(encoding="utf-8")):
            flags = re.findall(r"(?<![\w-])--[a-z][\w-]*", m.group(2))
            out += [(str(f.relative_to(ROOT)), m.group(1), flag) for flag in flags or [""]]
    return out


def test_every_stage_command_in_the_repo_names_a_stage_and_its_flags():
    commands = _commands()
    assert any(stage == "ab_report" and flag == "--choose-lr" for _, stage, flag in commands)
    wrong = []
    for where, stage, flag in commands:
        script = ROOT / "stages" / f"{stage}.py"
        if not script.is_file():
            wrong.append(f"{where}: stages.{stage} does not exist")
        elif flag and f'"{flag}"' not in script.read_text(encoding="utf-8"):
            wrong.append(f"{where}: stages.{stage} has no flag {flag}")
    assert not wrong, "\n".join(wrong)
