"""The README's curl tour runs top to bottom, by copy-paste, against a live `syncline dev`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, free_port
from tests.support.dev_process import start_dev, stop_dev


def tour_script(readme: str) -> str:
    """Every `sh` block between the tour markers, in order, as one script."""
    tour = readme[readme.index("<!-- tour:start") : readme.index("<!-- tour:end -->")]
    blocks = re.findall(r"^```sh\n(.*?)^```$", tour, flags=re.DOTALL | re.MULTILINE)
    assert len(blocks) >= 6, "the tour lost its blocks"
    return "\n".join(blocks)


def test_the_readme_tour_runs_by_copy_paste(database_url: str, tmp_path: Path) -> None:
    port, receiver_port = free_port(), free_port()
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the tour runs from the repository
    process, printed = start_dev(database_url, tmp_path, port)
    try:
        script = tour_script((ROOT / "README.md").read_text())
        # What a reader pastes: the printed values (and free ports on a shared machine).
        script = script.replace("ADMIN=adm_...", f"ADMIN={printed['Admin token']}")
        script = script.replace("KEY=sk_...", f"KEY={printed['API key']}")
        script = script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
        script = script.replace("9000", str(receiver_port))
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_dev(process)
    out = ran.stdout
    assert ran.returncode == 0, f"the tour stopped:\n{ran.stderr}\n{out[-3000:]}"
    assert '"company":"Analytical Engines"' in out
    assert re.search(r"cannot fulfill order \S+: it is placed", out)  # the 409 says why
    assert '"status":"fulfilled"' in out
    assert re.search(r"cannot cancel order \S+: it is fulfilled", out)
    assert "verified webhook.ping" in out
    assert "verified order.created" in out
    assert '"status":"delivered"' in out  # the deliveries list shows them
    # ?version=1 and ?as_of= between the versions both show the contact before its PATCH.
    assert out.count('"email":"ada@example.com","name":"Ada Lovelace"') >= 2
