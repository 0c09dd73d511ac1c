"""Instance-segmentation metrics on hand-made label images, with the answers worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from im2im_helpers import io, metrics


def two_squares() -> np.ndarray:
    """Two 4 x 4 true squares (16 pixels each): label 1 at columns 1-4, label 2 at columns 6-9."""
    t = np.zeros((6, 12), dtype=np.int32)
    t[1:5, 1:5] = 1
    t[1:5, 6:10] = 2
    return t


def one_exact_one_shifted() -> np.ndarray:
    """Square 1 exactly right; square 2 shifted one column right (columns 7-10).

    Shifted square: intersection 4 x 3 = 12, union 16 + 16 - 12 = 20, IoU = 12/20 = 0.6.
    """
    p = np.zeros((6, 12), dtype=np.int32)
    p[1:5, 1:5] = 1
    p[1:5, 7:11] = 2
    return p


def merged() -> np.ndarray:
    """One predicted object over both true squares and the gap: rows 1-4, columns 1-9 (36 px).

    Each true square lies fully inside it: IoU = 16/36 = 4/9 with each.
    """
    p = np.zeros((6, 12), dtype=np.int32)
    p[1:5, 1:10] = 1
    return p


def test_iou_matrix_one_exact_one_shifted_square():
    iou = metrics.iou_matrix(one_exact_one_shifted(), two_squares())
    assert iou.shape == (2, 2)  # (n_true, n_pred)
    assert iou[0, 0] == 1.0 and iou[1, 1] == 12 / 20
    assert iou[0, 1] == 0.0 and iou[1, 0] == 0.0


def test_match_counts_below_and_above_the_shifted_iou():
    p, t = one_exact_one_shifted(), two_squares()
    # IoU 0.6 counts at thresholds 0.5 and 0.6 (>=): both squares found.
    for thr in (0.5, 0.6):
        r = metrics.match_instances(p, t, thr)
        assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)
        assert r["ap"] == r["precision"] == r["recall"] == r["f1"] == 1.0
        assert r["mean_matched_iou"] == pytest.approx((1.0 + 0.6) / 2)
        assert r["matched"] == [(1, 1, 1.0), (2, 2, 0.6)]
    # At 0.7 the shifted square is a miss (FN) and a false detection (FP):
    # precision = recall = f1 = 1/2, ap = 1 / (1 + 1 + 1) = 1/3.
    r = metrics.match_instances(p, t, 0.7)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 1)
    assert r["precision"] == r["recall"] == r["f1"] == 0.5
    assert r["ap"] == pytest.approx(1 / 3)
    assert r["mean_matched_iou"] == 1.0
    assert r["matched"] == [(1, 1, 1.0)]


def test_average_precision_over_thresholds():
    ap = metrics.average_precision(one_exact_one_shifted(), two_squares())
    assert list(ap) == list(metrics.AP_THRESHOLDS)
    # 0.5, 0.55, 0.6 <= IoU 0.6: AP 1; from 0.65 on only the exact square matches: AP 1/3.
    assert [ap[t] for t in (0.5, 0.55, 0.6)] == [1.0, 1.0, 1.0]
    assert [ap[t] for t in (0.65, 0.7, 0.75, 0.8, 0.85, 0.9)] == pytest.approx([1 / 3] * 6)
    assert metrics.average_precision(two_squares(), two_squares(), (0.9,)) == {0.9: 1.0}


def test_a_merge():
    p, t = merged(), two_squares()
    assert metrics.iou_matrix(p, t) == pytest.approx(np.array([[4 / 9], [4 / 9]]))
    # 4/9 < 0.5: no match; 1 FP (the merged object), 2 FN (both squares); AP 0.
    r = metrics.match_instances(p, t, 0.5)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (0, 1, 2, 0.0)
    # At 0.4 the merged object may match one square only (one-to-one): AP = 1 / (1 + 0 + 1).
    r = metrics.match_instances(p, t, 0.4)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (1, 0, 1, 0.5)
    ms = metrics.merges_and_splits(p, t)
    assert (ms["merges"], ms["splits"], ms["merged"], ms["split"]) == (1, 0, [1], [])


def test_a_partial_merge_depends_on_min_overlap():
    # Prediction: square 1 plus the first column of square 2 (rows 1-4, columns 1-6).
    # Square 1 has 16/16 of its area inside it, square 2 only 4/16 = 1/4.
    p = np.zeros((6, 12), dtype=np.int32)
    p[1:5, 1:7] = 1
    assert metrics.merges_and_splits(p, two_squares())["merges"] == 0
    assert metrics.merges_and_splits(p, two_squares(), min_overlap=0.25)["merges"] == 1


def test_a_split():
    # One true 4 x 8 rectangle (32 px) cut into two 4 x 4 halves: IoU 16/32 = 0.5 with each.
    t = np.zeros((6, 12), dtype=np.int32)
    t[1:5, 1:9] = 1
    p = np.zeros_like(t)
    p[1:5, 1:5] = 1
    p[1:5, 5:9] = 2
    assert metrics.iou_matrix(p, t).tolist() == [[0.5, 0.5]]
    # At 0.5 both halves qualify but only one may match: TP 1, FP 1, FN 0, AP 1/2.
    r = metrics.match_instances(p, t, 0.5)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (1, 1, 0, 0.5)
    assert (r["precision"], r["recall"]) == (0.5, 1.0)
    r = metrics.match_instances(p, t, 0.51)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (0, 2, 1, 0.0)
    ms = metrics.merges_and_splits(p, t)
    assert (ms["merges"], ms["splits"], ms["merged"], ms["split"]) == (0, 1, [], [1])
    # A split is a merge with the roles of prediction and truth swapped.
    assert metrics.merges_and_splits(t, p)["merges"] == 1


def test_non_contiguous_labels_give_the_same_result():
    t, p = two_squares(), one_exact_one_shifted()
    t2 = np.select([t == 1, t == 2], [3, 17], 0)
    p2 = np.select([p == 1, p == 2], [40, 7], 0)  # reversed order on purpose
    # Columns are in sorted label order: pred 7 (shifted square), then pred 40 (exact square).
    assert metrics.iou_matrix(p2, t2).tolist() == [[0.0, 1.0], [0.6, 0.0]]
    for thr in (0.5, 0.7):
        a, b = metrics.match_instances(p, t, thr), metrics.match_instances(p2, t2, thr)
        assert {k: a[k] for k in a if k != "matched"} == {k: b[k] for k in b if k != "matched"}
    assert metrics.match_instances(p2, t2)["matched"] == [(3, 40, 1.0), (17, 7, 0.6)]
    assert metrics.average_precision(p2, t2) == metrics.average_precision(p, t)


def test_integer_valued_floats_and_no_background_are_fine():
    t, p = two_squares(), one_exact_one_shifted()
    assert metrics.match_instances(p.astype(float), t.astype(np.float32)) == (
        metrics.match_instances(p, t))
    # Every pixel labelled (no 0): one object filling the image matches itself.
    full = np.full((3, 3), 5)
    r = metrics.match_instances(full, full)
    assert (r["tp"], r["fp"], r["fn"], r["matched"]) == (1, 0, 0, [(5, 5, 1.0)])


def test_empty_images():
    e = np.zeros((6, 12), dtype=np.int32)
    # Nothing to find and nothing found: a perfect score.
    r = metrics.match_instances(e, e)
    assert (r["tp"], r["fp"], r["fn"]) == (0, 0, 0)
    assert r["ap"] == r["precision"] == r["recall"] == r["f1"] == 1.0
    assert r["mean_matched_iou"] == 0.0 and r["matched"] == []
    assert metrics.iou_matrix(e, e).shape == (0, 0)
    assert metrics.merges_and_splits(e, e)["merges"] == 0
    # Empty prediction, two true squares: 2 FN, AP 0.
    r = metrics.match_instances(e, two_squares())
    assert (r["tp"], r["fp"], r["fn"], r["ap"], r["precision"], r["recall"]) == (0, 0, 2, 0, 0, 0)
    assert metrics.iou_matrix(e, two_squares()).shape == (2, 0)
    # Two predicted squares, no true objects: 2 FP, AP 0.
    r = metrics.match_instances(two_squares(), e)
    assert (r["tp"], r["fp"], r["fn"], r["ap"], r["precision"], r["recall"]) == (0, 2, 0, 0, 0, 0)


def test_3d_labels():
    # True: cube 1 (2 x 2 x 2 = 8 voxels) at z 0-1, cube 2 elsewhere. Prediction: cube 1 shifted
    # one slice in z (z 1-2): intersection 1 x 2 x 2 = 4, union 8 + 8 - 4 = 12, IoU 1/3;
    # cube 2 exact.
    t = np.zeros((4, 6, 6), dtype=np.uint16)
    t[0:2, 0:2, 0:2] = 1
    t[0:2, 3:5, 3:5] = 2
    p = np.zeros_like(t)
    p[1:3, 0:2, 0:2] = 1
    p[0:2, 3:5, 3:5] = 2
    iou = metrics.iou_matrix(p, t)
    assert iou[0, 0] == 4 / 12 and iou[1, 1] == 1.0 and iou[0, 1] == iou[1, 0] == 0.0
    r = metrics.match_instances(p, t, 0.5)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (1, 1, 1, 1 / 3)
    r = metrics.match_instances(p, t, 0.3)
    assert (r["tp"], r["fp"], r["fn"], r["ap"]) == (2, 0, 0, 1.0)
    # One predicted block over both cubes (z 0-1, y 0-4, x 0-4) merges them.
    m = np.zeros_like(t)
    m[0:2, 0:5, 0:5] = 9
    assert metrics.merges_and_splits(m, t)["merged"] == [9]


def test_hungarian_beats_greedy():
    # 2-row strips, so each IoU is a ratio of column counts.
    # True A: columns 0-9 (10), true B: columns 10-13 (4).
    # Pred P: columns 4-13 (10), pred Q: columns 0-3 (4).
    # IoU(A, P) = 6/14 = 3/7 ~ 0.43, IoU(B, P) = 4/10, IoU(A, Q) = 4/10, IoU(B, Q) = 0.
    # Greedy (highest IoU first) takes A-P, leaving B and Q without a partner: 1 TP.
    # The optimal matching A-Q, B-P has total IoU 0.8 > 3/7 and 2 TP.
    t = np.zeros((2, 14), dtype=np.int32)
    t[:, 0:10], t[:, 10:14] = 1, 2
    p = np.zeros_like(t)
    p[:, 4:14], p[:, 0:4] = 1, 2
    assert metrics.iou_matrix(p, t).tolist() == [[6 / 14, 4 / 10], [4 / 10, 0.0]]
    r = metrics.match_instances(p, t, 0.3)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)
    assert r["matched"] == [(1, 2, 0.4), (2, 1, 0.4)]
    assert r["mean_matched_iou"] == pytest.approx(0.4)


def test_instance_table_is_dataset_level_and_plugs_into_format_and_json(tmp_path):
    targets = [two_squares(), two_squares()]
    preds = {"perfect": targets, "model": [one_exact_one_shifted(), merged()]}
    values = metrics.instance_table(preds, targets)
    assert list(values["model"]) == list(metrics.INSTANCE)
    assert values["perfect"] == {"ap50": 1.0, "ap75": 1.0, "ap90": 1.0, "matched_iou": 1.0,
                                 "merges": 0.0, "splits": 0.0}
    m = values["model"]
    # ap50: image 1 TP 2, image 2 TP 0 FP 1 FN 2 -> 2 / (2 + 1 + 2) = 0.4
    # (a mean of per-image AP would give (1 + 0) / 2 = 0.5).
    assert m["ap50"] == pytest.approx(2 / 5)
    # ap75 and ap90: image 1 TP 1 FP 1 FN 1, image 2 as before -> 1 / (1 + 2 + 3) = 1/6.
    assert m["ap75"] == pytest.approx(1 / 6) and m["ap90"] == pytest.approx(1 / 6)
    # Matched pairs at 0.5: IoU 1.0 and 0.6 (image 1), none in image 2 -> 0.8.
    assert m["matched_iou"] == pytest.approx(0.8)
    assert (m["merges"], m["splits"]) == (0.5, 0.0)  # one merge in two images
    text = metrics.format_table(values)
    assert "matched_iou" in text and "model" in text
    path = metrics.write_json(tmp_path / "m.json", "t", "d", values, simulated=True,
                              level="smoke", headline=None)
    assert json.loads(path.read_text())["methods"]["model"]["ap50"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="2 targets"):
        metrics.instance_table({"short": [merged()]}, targets)
    assert list(metrics.instance_table(preds, targets, (0.5, 0.55))["model"])[:2] == [
        "ap50", "ap55"]


def test_bad_inputs_are_named():
    t = two_squares()
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.match_instances(t[:, :10], t)
    with pytest.raises(ValueError, match=r"pred_labels holds non-integer values \(e.g. 0.5\)"):
        metrics.iou_matrix(t * 0.5, t)
    with pytest.raises(ValueError, match="true_labels holds negative labels"):
        metrics.merges_and_splits(t, -t)
    with pytest.raises(ValueError, match="true_labels holds non-integer"):
        metrics.average_precision(t, np.where(t == 1, np.nan, t))
    with pytest.raises(ValueError, match="threshold=0"):
        metrics.match_instances(t, t, 0)
    with pytest.raises(ValueError, match="min_overlap=1.5"):
        metrics.merges_and_splits(t, t, 1.5)


def test_existing_metric_names_are_untouched():
    assert {"pearson", "ssim", "psnr", "nrmse", "dice", "iou"} <= set(metrics.METRICS)
    assert not set(metrics.INSTANCE) & set(metrics.METRICS)  # instance scores have their table


@pytest.mark.parametrize("dims, labels", [
    ("YX", np.array([[0, 0, 3], [300, 300, 0], [0, 7, 7]], dtype=np.uint16)),
    ("ZYX", np.stack([np.arange(12, dtype=np.uint32).reshape(3, 4) * 1000,
                      np.full((3, 4), 70000, dtype=np.uint32)])),
])
def test_label_images_survive_an_ome_tiff_round_trip(tmp_path, dims, labels):
    path = io.write_ome_tiff(tmp_path / "labels.ome.tiff", labels, dims)
    data = io.read(path).data  # TCZYX
    assert np.issubdtype(data.dtype, np.integer) and data.dtype == labels.dtype
    back = data[0, 0, 0] if dims == "YX" else data[0, 0]
    assert back.shape == labels.shape
    np.testing.assert_array_equal(back, labels)  # labels > 255 (300, 11000, 70000) intact
    assert metrics.match_instances(back, labels)["ap"] == 1.0
