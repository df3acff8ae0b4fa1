import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `import mimickit` without installing the package


@pytest.fixture(scope="session")
def humanoid_xml():
    return str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml")
