"""Issue 16, item 4: what cannot be exported or imported is refused with a message that names
the file: a folder that is not a run, a run without a checkpoint, an unknown weight format, a
run whose held-out image cannot be found, and a package whose test input does not reproduce
its test output (unless ``check=False``)."""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile

import numpy as np
import pytest
import yaml

from im2im_helpers.export import ExportError, PackageError, export_run, load_package


def named(path, pattern: str = "") -> str:
    """A regular expression: the path itself (escaped), then ``pattern``."""
    return re.escape(str(path)) + pattern


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.png").write_bytes(b"not a run")
    with pytest.raises(ExportError, match=named(folder) + r": not a run folder"):
        export_run(folder, tmp_path / "m.zip")
    with pytest.raises(ExportError, match=named(tmp_path / "missing") + r": no such run folder"):
        export_run(tmp_path / "missing", tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


def test_a_run_without_a_checkpoint_is_refused(run_2d, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_2d, run)
    shutil.rmtree(run / "checkpoints")
    with pytest.raises(ExportError, match=named(run) + r": the run has no checkpoint.*Train it"):
        export_run(run, tmp_path / "m.zip")


def test_an_unknown_weight_format_is_refused_before_anything_is_read(run_2d, tmp_path):
    with pytest.raises(ExportError, match=named(run_2d) + r": unknown weight format.*'tflite'.*"
                                          r"pytorch_state_dict"):
        export_run(run_2d, tmp_path / "m.zip", formats=["torchscript", "tflite"])
    with pytest.raises(ExportError, match=r"m\.tar: a BioImage\.IO package is a \.zip"):
        export_run(run_2d, tmp_path / "m.tar")


def test_without_a_split_file_a_test_image_is_asked_for(run_2d, tmp_path):
    run = tmp_path / "moved" / "run"
    shutil.copytree(run_2d, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    text = (run / "config.yaml").read_text().replace(cfg["data"]["split"]["path"],
                                                     str(tmp_path / "gone.json"))
    (run / "config.yaml").write_text(text)
    with pytest.raises(ExportError, match=named(run) + r": cannot find the run's split file.*"
                                          r"--test-image FILE"):
        export_run(run, tmp_path / "m.zip")
    image = run_2d.parent / "pairs" / "img2_IM.ome.tiff"
    out = export_run(run, tmp_path / "m.zip", test_image=image, formats=["pytorch_state_dict"],
                     check=False)
    assert zipfile.ZipFile(out).read("README.md").decode().count("img2_IM.ome.tiff") == 1


def _tampered(package, folder):
    """The package unzipped into ``folder`` with its test output shifted by 0.5 (and the
    file's sha256 updated, so that only the reproduction fails)."""
    with zipfile.ZipFile(package) as z:
        z.extractall(folder)
    path = folder / "test_output.npy"
    np.save(path, np.load(path) + 0.5)
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    rdf["outputs"][0]["test_tensor"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
    return folder


def test_a_package_that_does_not_reproduce_its_test_output_is_refused(run_2d, tmp_path):
    package = export_run(run_2d, tmp_path / "m.zip", formats=["pytorch_state_dict"],
                         check=False)
    folder = _tampered(package, tmp_path / "unzipped")
    with pytest.raises(PackageError, match=named(folder) + r": failed bioimageio.core's model test"
                                           r".*max abs difference of 0\.5"):
        load_package(folder)
    model = load_package(folder, check=False)  # the user's decision
    assert model.weight_format == "pytorch_state_dict"


def test_a_missing_or_foreign_package_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=named(tmp_path / "nope.zip", ": no such")):
        load_package(tmp_path / "nope.zip")  # never looked up online as a model id
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PackageError, match=r"notes\.txt: not a BioImage\.IO package"):
        load_package(tmp_path / "notes.txt")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(PackageError, match=r"broken\.zip: not a valid BioImage\.IO model"):
        load_package(tmp_path / "broken.zip")


def test_an_existing_package_is_kept_unless_overwrite(run_2d, tmp_path):
    out = tmp_path / "m.zip"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match=named(out) + r": already exists"):
        export_run(run_2d, out)
    assert out.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["m.zip"]  # no temporary left behind
