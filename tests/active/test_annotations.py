"""The versioned annotation store: never overwrites, refuses masks of the wrong shape."""

import json

import numpy as np
import pytest

from im2im_helpers.active import AnnotationStore, MaskShapeError


def test_each_save_is_a_new_version_and_earlier_ones_stay_as_they_were(tmp_path):
    store = AnnotationStore(tmp_path / "annotations")
    first = np.zeros((8, 10), np.uint8)
    first[2:4, 2:4] = 1
    v1 = store.save("img0-y00000-x00000", first, (1, 8, 10), source="pseudo:otsu", round=0)
    before = (tmp_path / "annotations" / v1.file).read_bytes()
    second = first.copy()
    second[5:7, 5:9] = 2
    v2 = store.save("img0-y00000-x00000", second, (1, 8, 10), source="person", round=1)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.file == "img0-y00000-x00000/v0001.ome.tiff"
    assert v2.file == "img0-y00000-x00000/v0002.ome.tiff"
    assert (tmp_path / "annotations" / v1.file).read_bytes() == before
    np.testing.assert_array_equal(store.read("img0-y00000-x00000", 1), first)
    np.testing.assert_array_equal(store.read("img0-y00000-x00000"), second)
    assert (v2.objects, v2.foreground, v2.source) == (2, 12, "person")
    index = json.loads((tmp_path / "annotations" / "index.json").read_text())
    assert [v["version"] for v in index["img0-y00000-x00000"]] == [1, 2]
    assert store.crops(source="person") == ["img0-y00000-x00000"]
    assert store.crops(source="pseudo") == []


def test_a_file_in_the_way_is_never_written_over(tmp_path):
    store = AnnotationStore(tmp_path)
    store.save("c", np.ones((4, 4), bool), (4, 4))
    stranger = tmp_path / "c" / "v0002.ome.tiff"
    stranger.write_bytes(b"someone else's file")
    with pytest.raises(FileExistsError):
        store.save("c", np.zeros((4, 4), bool), (4, 4))
    assert stranger.read_bytes() == b"someone else's file"
    assert [v.version for v in store.versions("c")] == [1]


def test_a_mask_of_another_shape_is_refused_naming_crop_shapes_and_remedy(tmp_path):
    store = AnnotationStore(tmp_path)
    with pytest.raises(MaskShapeError) as err:
        store.save("img3-y00032-x00000", np.zeros((30, 32), np.uint8), (1, 32, 32))
    message = str(err.value)
    assert "img3-y00032-x00000" in message
    assert "(30, 32)" in message and "(32, 32)" in message
    assert "nothing was saved" in message and "save it again" in message
    assert not store.versions("img3-y00032-x00000")
    assert not any(tmp_path.iterdir())


def test_values_that_are_not_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="labels 0, 1, 2"):
        AnnotationStore(tmp_path).save("c", np.full((4, 4), 0.5), (4, 4))
