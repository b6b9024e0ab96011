import re

import ticketbooth


def test_version_is_pep440_like():
    assert re.fullmatch(r"\d+\.\d+\.\d+", ticketbooth.__version__)
