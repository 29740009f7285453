"""Build the wheel and the sdist, install each into a scratch venv, and import it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], check=True)
        wheels = sorted(dist.glob("*.whl"))
        sdists = sorted(dist.glob("*.tar.gz"))
        assert len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist, got {list(dist.iterdir())}"
        for artifact in (wheels[0], sdists[0]):
            env_dir = Path(tmp) / f"venv-{artifact.suffix.strip('.')}"
            venv.EnvBuilder(with_pip=True).create(env_dir)
            python = env_dir / "bin" / "python"
            subprocess.run([str(python), "-m", "pip", "install", "-q", str(artifact)], check=True)
            check = (
                "import partysocket, partysocket.asyncio, pathlib;"
                "assert (pathlib.Path(partysocket.__file__).parent / 'py.typed').exists();"
                "print('installed', partysocket.__version__, 'from', partysocket.__file__)"
            )
            subprocess.run([str(python), "-c", check], check=True)
            subprocess.run([str(env_dir / "bin" / "partysocket"), "--help"], check=True, stdout=subprocess.DEVNULL)
            print(f"build check: {artifact.name} builds, installs and imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
