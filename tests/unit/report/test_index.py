"""repdyn.report.index: the width study of the index page."""

from __future__ import annotations

from repdyn.report.comparisons import width_groups


def _report(name, width, noise, value, epochs=100):
    return {
        "name": name,
        "settings": {"data": {"label_noise": noise}, "train": {"model": {"width": width}}},
        "epochs": epochs,
        "summary": [{"first_layer_cka_to_init_end": value}],
    }


def test_width_study_groups_experiments_that_differ_only_in_width():
    reports = [
        _report("a", 32, 0.0, 0.9),
        _report("b", 64, 0.0, 0.95),
        _report("c", 32, 0.2, 0.8),
        _report("d", 64, 0.2, 0.85),
        _report("e", 42, 0.1, 0.7),
    ]  # noise 0.1 has one width: no line
    points = width_groups(reports)
    assert sorted(points) == [
        ("label_noise=0.0", 32.0, 0.9),
        ("label_noise=0.0", 64.0, 0.95),
        ("label_noise=0.2", 32.0, 0.8),
        ("label_noise=0.2", 64.0, 0.85),
    ]
    assert width_groups([_report("a", 32, 0.0, 0.9)]) == []
    # one run read at two lengths (a shared run) is two groups; an experiment repeated under another name adds nothing
    longer = width_groups(
        [
            _report("a", 32, 0.0, 0.9),
            _report("b", 64, 0.0, 0.95),
            _report("a-long", 32, 0.0, 0.7, 200),
            _report("a-again", 32, 0.0, 0.9),
        ]
    )
    assert sorted(longer) == [("epochs=100", 32.0, 0.9), ("epochs=100", 64.0, 0.95)]
