"""Issue 16, item 5: the command line's ``export`` and ``report`` subcommands are wired to
their modules, which load only when their command runs (``data list`` or ``train`` never
import bioimageio)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from im2im_helpers.__main__ import main


def test_export_options_reach_export_run(monkeypatch, tmp_path, capsys):
    from im2im_helpers.export import package

    seen = {}

    def fake(run, out, **options):
        seen.update(run=run, out=out, **options)
        return tmp_path / "m.zip"

    monkeypatch.setattr(package, "export_run", fake)
    assert main(["export", "RUN", "OUT.zip", "--formats", "torchscript", "onnx",
                 "--test-image", "held_out.tif", "--name", "my model", "--overwrite"]) == 0
    assert seen == {"run": "RUN", "out": "OUT.zip", "formats": ["torchscript", "onnx"],
                    "test_image": "held_out.tif", "name": "my model", "overwrite": True,
                    "check": True}
    assert capsys.readouterr().out.strip() == str(tmp_path / "m.zip")
    with pytest.raises(SystemExit):
        main(["export", "RUN", "OUT.zip", "--formats", "tflite"])


def test_export_errors_end_with_status_2_and_the_folder(tmp_path, capsys):
    assert main(["export", str(tmp_path), str(tmp_path / "m.zip")]) == 2
    assert f"{tmp_path}: not a run folder" in capsys.readouterr().err


def test_report_is_handed_to_the_report_module(monkeypatch, tmp_path):
    cli = pytest.importorskip("im2im_helpers.report.cli")
    seen = {}
    monkeypatch.setattr(cli, "run", lambda args: seen.setdefault("args", args) and 0)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 0
    assert seen["args"].run == str(tmp_path) and seen["args"].out == str(tmp_path / "r.html")


def test_other_commands_do_not_load_the_export_machinery():
    code = ("import sys\nfrom im2im_helpers.__main__ import main\n"
            "try:\n    main(['predict', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('bioimageio.core', 'onnx', 'torch', "
            "'im2im_helpers.report') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
