"""Run levels: a setting left at None takes its level's value; a value set by hand (or with
papermill -p) is never replaced."""

import pytest

from im2im_helpers import levels

BY_LEVEL = {"MAX_EPOCHS": (2, 12, 40), "CHANNELS": ((8, 16), (16, 32, 64), (32, 64, 128))}


def test_a_setting_left_at_none_takes_the_value_of_its_level(capsys):
    chosen = levels.choose("default", BY_LEVEL, {"MAX_EPOCHS": None, "CHANNELS": None})
    assert chosen == {"MAX_EPOCHS": 12, "CHANNELS": (16, 32, 64)}
    assert levels.choose("full", BY_LEVEL, {}, verbose=False)["MAX_EPOCHS"] == 40
    assert "level default:\n  MAX_EPOCHS = 12" in capsys.readouterr().out


def test_a_value_set_by_hand_is_kept_and_reported(capsys):
    chosen = levels.choose("smoke", BY_LEVEL, {"MAX_EPOCHS": 7, "CHANNELS": None})
    assert chosen == {"MAX_EPOCHS": 7, "CHANNELS": (8, 16)}
    assert "MAX_EPOCHS = 7  (set; the smoke level has 2)" in capsys.readouterr().out


def test_an_unknown_level_or_a_short_row_is_refused():
    with pytest.raises(levels.LevelError, match="LEVEL='quick': choose one of 'smoke'"):
        levels.choose("quick", BY_LEVEL, {})
    with pytest.raises(levels.LevelError, match=r"BY_LEVEL\['LR'\]=\(0.1, 0.2\): give one value"):
        levels.choose("full", {"LR": (0.1, 0.2)}, {})
