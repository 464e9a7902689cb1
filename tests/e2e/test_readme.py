"""The README's curl walkthrough runs, as written, against a live server and a real worker: it cannot rot."""

import re
import subprocess

import pytest

from tests.support.logs import ROOT
from tests.support.processes import process_env

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

README = ROOT / "README.md"
TESTED = re.compile(r"<!-- readme-test:begin -->(.*?)<!-- readme-test:end -->", re.DOTALL)
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def walkthrough() -> str:
    [section] = TESTED.findall(README.read_text())
    return "\n".join(BASH_BLOCK.findall(section))


def test_every_curl_example_in_the_readme_is_inside_the_tested_walkthrough():
    outside = TESTED.sub("", README.read_text())
    untested = [block for block in re.findall(r"```\w*\n(.*?)```", outside, re.DOTALL) if "curl " in block]
    assert untested == []


def test_the_readme_walkthrough_runs_green(worker, live_server):
    script = "set -euo pipefail\n" + walkthrough()
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=process_env(BASE=live_server.url),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stdout.count("true") >= 15  # every `jq -e` check printed true
