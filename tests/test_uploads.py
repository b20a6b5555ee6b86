"""common.uploads: a browser's escapes in a multipart file name (the HTML standard's three) are undone, nothing else."""

import pytest

from common.uploads import browser_file_name


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ("my %22plan%22.pdf", 'my "plan".pdf'),
        ("a%0Ab%0dc.txt", "a\nb\rc.txt"),  # then spaces where the name is cleaned
        ("100%.pdf", "100%.pdf"),
        ("%2F..%2Fetc.txt", "%2F..%2Fetc.txt"),  # only the three: no path sneaks in by an escape
        ("%%2222.pdf", '%"22.pdf'),
        ("", ""),
    ],
)
def test_only_the_html_standards_three_escapes_are_undone(sent, named):
    assert browser_file_name(sent) == named
