"""The static import analysis that decides what each function's third-party layer holds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra.dependencies import Imports, distributions_for, reached_imports

pytestmark = pytest.mark.unit


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_only_what_the_entry_reaches_counts(tmp_path: Path) -> None:
    fn, layer = tmp_path / "fn", tmp_path / "layer"
    _write(fn, {"handler.py": "from dom.wiring import build_small\nimport json\n"})
    _write(
        layer,
        {
            "dom/__init__.py": "",
            "dom/wiring.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    import typeonly
                class _Parts:
                    @property
                    def cheap(self):
                        from .small import Small
                        return Small()
                    @property
                    def costly(self):
                        import heavy
                        return heavy
                def _parts():
                    return _Parts()
                def build_small():
                    return _parts().cheap
                def build_big():
                    import bigpkg.sub
                    return _parts().costly
            """,
            "dom/small.py": "import tinypkg\nfrom tinypkg.mod import thing\nclass Small: ...\n",
        },
    )
    found = reached_imports("handler", [fn, layer])
    assert found.packages == {"tinypkg"}  # not heavy, bigpkg (unreached), typeonly (never runs), json (stdlib)
    assert "tinypkg.mod.thing" in found.names


def test_a_method_counts_once_its_name_is_used_and_module_level_code_always(tmp_path: Path) -> None:
    fn = tmp_path / "fn"
    _write(
        fn,
        {
            "handler.py": """
                import atimport
                from helper import Thing
                @atimport.decorate
                def lambda_handler(event, context):
                    return Thing().costly
            """,
            "helper.py": """
                class Thing:
                    def costly(self):
                        import heavy
                    def unused(self):
                        import never
            """,
        },
    )
    assert reached_imports("handler", [fn]).packages == {"atimport", "heavy"}


def test_relative_and_from_package_imports_resolve(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    _write(
        layer,
        {
            "pkg/__init__.py": "import initdep\n",
            "pkg/a.py": "from . import b\nfrom .c import f\n",
            "pkg/b.py": "import bdep\n",
            "pkg/c.py": "def f():\n    import cdep\ndef g():\n    import gdep\n",
        },
    )
    assert reached_imports("pkg.a", [layer]).packages == {"initdep", "bdep", "cdep"}


def test_a_missing_entry_module_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        reached_imports("handler", [tmp_path])


def _dist(site: Path, name: str, top: str, requires: list[str]) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / top).mkdir()
    (site / top / "__init__.py").write_text("")
    meta = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0"] + [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    (info / "RECORD").write_text(f"{top}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def test_requirements_extras_and_markers_follow_the_metadata(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(
        site,
        "aws-lambda-powertools",
        "aws_lambda_powertools",
        ['aws-xray-sdk; extra == "tracer"', "jmespath", 'pywin; sys_platform == "win32"'],
    )
    _dist(site, "aws-xray-sdk", "aws_xray_sdk", ["wrapt", "botocore"])
    _dist(site, "wrapt", "wrapt", [])
    _dist(site, "pywin", "pywin", [])
    logger_only = Imports({"aws_lambda_powertools"}, {"aws_lambda_powertools.Logger"})
    assert set(distributions_for(site, logger_only)) == {"aws-lambda-powertools"}
    with_tracer = Imports({"aws_lambda_powertools"}, {"aws_lambda_powertools.Logger", "aws_lambda_powertools.Tracer"})
    # botocore and jmespath come with the Lambda runtime; the Windows-only requirement never applies
    assert set(distributions_for(site, with_tracer)) == {"aws-lambda-powertools", "aws-xray-sdk", "wrapt"}


def test_an_import_no_distribution_provides_is_an_error(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "wrapt", "wrapt", [])
    with pytest.raises(LookupError, match="nothere"):
        distributions_for(site, Imports({"nothere"}, set()))


def test_lambda_substitutes_keep_the_import_name_and_the_release_line(tmp_path: Path) -> None:
    from infra import ROOT
    from infra.constructs.lambda_packaging import LAMBDA_SUBSTITUTES, lambda_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\npydantic==2.14.4\nphonenumbers==9.0.43  # local pin\n")
    text = lambda_requirements(requirements)
    assert "pydantic==2.14.4" in text
    assert "phonenumberslite==" in text
    assert "phonenumbers==9.0.43" not in text
    local = dict(
        line.split("#")[0].strip().split("==")
        for line in (ROOT / "layers" / "deps" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name, substitute in LAMBDA_SUBSTITUTES.items():
        # the same major.minor release line as the full package the tests run against
        assert substitute.split("==")[1].rsplit(".", 1)[0] == local[name].rsplit(".", 1)[0]
