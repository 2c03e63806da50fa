"""The dependency lock: it pins every declared dependency within its range, and the
README, CI and the image all install from it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins(lock: Path) -> dict[str, list[Requirement]]:
    """Each locked name with its pins (a name may be pinned once per environment marker)."""
    found: dict[str, list[Requirement]] = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            requirement = Requirement(line)
            found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


def test_lock_pins_every_declared_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in project["dependencies"]]
    for extra in ("test", "postgres", "s3"):
        declared += [Requirement(text) for text in project["optional-dependencies"][extra]]
    locked = pins(ROOT / "requirements.lock")
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if name == "vestige":  # the test extra names the project's own extras
            continue
        assert name in locked, f"{name} is not in requirements.lock: regenerate it (README)"
        for pin in locked[name]:
            (version,) = (spec.version for spec in pin.specifier)
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version}, outside {requirement.specifier}"
            )


def test_readme_ci_and_image_install_from_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    first = re.search(r"```sh\n(.+?)\n```", setup).group(1)
    install = "pip install -c requirements.lock -e '.[test]'"
    assert install in first and first.endswith("vestige serve")
    assert install in (ROOT / ".ci" / "run").read_text()
    assert "-c requirements.lock" in (ROOT / "docker" / "Dockerfile").read_text()
    assert "pywb" in pins(ROOT / "requirements-replay.lock")
