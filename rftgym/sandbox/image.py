"""The sandbox image: Debian with python3 and a non-root user ``sandbox`` (uid 1000).

Two ways to get it, same result:

* with a registry: ``docker build -t rftgym/sandbox:1 docker/`` (``docker/Dockerfile``);
* with no registry at all: :func:`build_image` (``rftgym sandbox build-image``) runs
  ``debootstrap --variant=minbase`` against the Debian mirror the machine's own apt sources name,
  adds the user, and ``docker import``s the tree. Only Debian packages are fetched.

The supervisor is not baked in: :class:`~rftgym.sandbox.pool.SandboxPool` sends its source as the
container's first stdin line, so an image never has to be rebuilt when rftgym changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from docker.client import DockerClient

from rftgym.sandbox.engine import connect

#: The tag the sandbox uses when no image is named (``RFTGYM_SANDBOX_IMAGE`` overrides it).
DEFAULT_IMAGE = os.environ.get("RFTGYM_SANDBOX_IMAGE", "rftgym/sandbox:1")
#: uid and gid of the unprivileged user every container runs as.
SANDBOX_UID = 1000
#: Packages of the image on top of minbase (python3 brings the standard library, ctypes included).
BASE_PACKAGES = ("python3",)

APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


class ImageBuildError(Exception):
    """The image could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class Mirror:
    """A Debian mirror and release, as the machine's apt sources name them."""

    uri: str
    suite: str


def apt_mirror(sources: Sequence[Path] = APT_SOURCES) -> Mirror:
    """The first plain ``deb`` source of the machine's apt configuration (one-line ``.list`` or
    deb822 ``.sources`` files): its URI and its release suite (``bookworm``, not ``-updates`` or
    ``-security``, which debootstrap cannot bootstrap from)."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources"))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    found = _release(fields.get("URIs", "").split(), fields.get("Suites", "").split())
                    if found:
                        return found
        else:
            for line in text.splitlines():
                match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                found = match and _release([match[1]], [match[2]])
                if found:
                    return found
    raise ImageBuildError(
        "no Debian release source found in the apt configuration "
        f"({', '.join(map(str, sources))}); pass --mirror URI and --suite NAME"
    )


def _release(uris: list[str], suites: list[str]) -> Mirror | None:
    releases = [s for s in suites if "-" not in s and "/" not in s]
    uris = [u for u in uris if "security" not in u]
    return Mirror(uris[0].rstrip("/"), releases[0]) if uris and releases else None


def build_image(
    tag: str = DEFAULT_IMAGE,
    packages: Sequence[str] = (),
    mirror: Mirror | None = None,
    client: DockerClient | None = None,
    log: Callable[[str], object] = print,
) -> str:
    """Build the sandbox image from Debian packages and ``docker import`` it as ``tag``.

    Args:
        tag: Image tag to create (the sandbox's default is :data:`DEFAULT_IMAGE`).
        packages: Extra Debian packages for tasks, e.g. ``["python3-numpy"]``.
        mirror: Where to fetch packages; default: the machine's apt sources (:func:`apt_mirror`).
        client: Docker client (default: :func:`~rftgym.sandbox.engine.connect`).
        log: Called with one line per step.

    Returns the image id. Needs root (debootstrap) and the ``debootstrap`` program.
    """
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = mirror or apt_mirror()
    client = client or connect()
    with tempfile.TemporaryDirectory(prefix="rftgym-image-") as tmp:
        root = Path(tmp) / "root"
        include = ",".join([*BASE_PACKAGES, *packages])
        log(f"debootstrap {mirror.suite} from {mirror.uri} (+ {include})")
        _check_run(
            ["debootstrap", "--variant=minbase", f"--include={include}", mirror.suite, str(root), mirror.uri],
            "debootstrap",
        )
        _add_user(root)
        # Caches and docs are dead weight in a sandbox; apt lists would go stale anyway.
        for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "work").mkdir(mode=0o755, exist_ok=True)
        archive = Path(tmp) / "root.tar"
        _check_run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], "tar")
        log(f"docker import as {tag}")
        repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        changes = [
            f"USER {SANDBOX_UID}:{SANDBOX_UID}",
            "WORKDIR /work",
            "ENV HOME=/work",
            "ENV PYTHONDONTWRITEBYTECODE=1",
            "LABEL rftgym.image=1",
            'CMD ["python3"]',
        ]
        client.api.import_image_from_file(str(archive), repository=repository, tag=version, changes=changes)
    image = client.images.get(tag)
    log(f"built {tag} ({image.short_id}, {image.attrs['Size'] / 1e6:.0f} MB)")
    return image.id


def _add_user(root: Path) -> None:
    """The unprivileged ``sandbox`` user, written straight into the tree (no chroot needed)."""
    with open(root / "etc/passwd", "a") as f:
        f.write(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:rftgym sandbox:/work:/usr/sbin/nologin\n")
    with open(root / "etc/group", "a") as f:
        f.write(f"sandbox:x:{SANDBOX_UID}:\n")


def _check_run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ImageBuildError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)}")
