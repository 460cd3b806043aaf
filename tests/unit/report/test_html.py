"""repdyn.report.html: names from the config are escaped."""

from __future__ import annotations

from repdyn.report.html import esc, table


def test_html_escapes_names_from_the_config():
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert "<td>&lt;b&gt;</td>" in table(["h"], [["<b>"]])
