"""Runs the `parts:` of charmcraft.yaml through craft-parts, as `charmcraft pack`
does inside its LXD container (its "destructive mode" on the host), minus the
container.

Usage: python scripts/craft_parts_build.py BASE WORK_DIR

- The project is copied (tracked and untracked-but-not-ignored files) to
  WORK_DIR/project; craft-parts works in WORK_DIR/craft. Keeping both paths
  fixed per WORK_DIR makes two runs on the same tree give the same bytes.
- APT is stubbed: the build packages craft-parts asks for are recorded in
  WORK_DIR/build-packages.txt, not installed. The versioned toolchain they
  stand for must already be in /usr/lib/rust-1.85/bin (scripts/setup-toolchain
  provides it).
- Prints the prime directory.

craft-parts is the library charmcraft itself runs its parts with (charmcraft
depends on it); the plugin here is the same `rust` plugin.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from craft_parts import LifecycleManager, Step
import craft_parts.packages as craft_packages
from craft_parts.packages import base

REPO = Path(__file__).resolve().parent.parent


def copy_tree(destination: Path) -> None:
    """What charmcraft sends into its container: the project, without build output."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    if destination.exists():
        shutil.rmtree(destination)
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPO / name
        if not source.is_file():  # deleted in the work tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def stub_apt(record: Path) -> None:
    """craft-parts' own no-op repository, recording what the part asks APT for."""

    class RecordingRepository(base.DummyRepository):
        @classmethod
        def install_packages(cls, package_names, *, refresh_package_cache=True):
            wanted = set(package_names)
            if record.exists():
                wanted |= set(record.read_text().split())
            record.write_text("".join(f"{name}\n" for name in sorted(wanted)))
            return []

    craft_packages._get_repository_for_platform = lambda: RecordingRepository


def main() -> int:
    base, work = sys.argv[1], Path(sys.argv[2]).resolve()
    if base not in ("ubuntu@22.04", "ubuntu@24.04"):
        print(f"craft_parts_build: unsupported base {base}", file=sys.stderr)
        return 2
    project, craft = work / "project", work / "craft"
    copy_tree(project)
    if craft.exists():
        shutil.rmtree(craft)
    craft.mkdir(parents=True)
    (work / "build-packages.txt").unlink(missing_ok=True)
    stub_apt(work / "build-packages.txt")
    parts = yaml.safe_load((project / "charmcraft.yaml").read_text())["parts"]
    os.chdir(project)  # craft-parts resolves `source: .` against the cwd
    lifecycle = LifecycleManager(
        {"parts": parts},
        application_name="charmcraft",
        cache_dir=work / "cache",
        work_dir=craft,
        base=base.replace("@", ":"),
        ignore_local_sources=["*.charm"],
    )
    actions = lifecycle.plan(Step.PRIME)
    with lifecycle.action_executor() as executor:
        executor.execute(actions, stdout=sys.stderr, stderr=sys.stderr)
    print(craft / "prime")
    return 0


if __name__ == "__main__":
    sys.exit(main())
