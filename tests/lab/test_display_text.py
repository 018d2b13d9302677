"""lab/display_text.py and lab.runs.run_key: the small helpers the pages share."""

import math

from lab.display_text import escape_markdown, percent, plain_number
from lab.run_cost import time_text
from lab.runs import Run, run_key
from nn.network import Network
from nn.training import History, TrainConfig


def test_percent():
    assert percent(0.93125) == "93.1%" and percent(1) == "100.0%" and percent(0.0) == "0.0%"
    assert percent(None) == percent(math.nan) == percent(math.inf) == "–"
    assert percent(None, missing="") == ""


def test_escape_markdown_escapes_every_markdown_character_and_keeps_line_breaks():
    assert escape_markdown("my_train_set (v2).csv") == r"my\_train\_set (v2).csv"
    assert escape_markdown("$x$ *a* `b` [c](d) <e> #f |g| ~h~ \\") == \
        r"\$x\$ \*a\* \`b\` \[c\](d) \<e\> \#f \|g\| \~h\~ \\"
    assert escape_markdown("one\ntwo") == "one  \ntwo"
    assert escape_markdown(7) == "7"


def _run(number, network):
    return Run(number=number, config=TrainConfig(hidden_sizes=(4,)), status="completed", message="",
               network=network, history=History(), dataset="d", seconds=1.0)


def test_run_key_changes_with_the_run_and_with_its_network():
    network = Network([784, 4, 10], seed=0)
    first = _run(1, network)
    assert run_key(first) == run_key(_run(1, network))
    assert run_key(first) != run_key(_run(2, network))
    assert run_key(first) != run_key(_run(1, network.copy()))  # an upload or Reset: another model


def test_numbers_and_estimates_read_as_a_person_writes_them():
    assert [plain_number(v) for v in (100.0, 1e6, 2.5, 0.25)] == ["100", "1,000,000", "2.5", "0.25"]
    assert [time_text(s) for s in (0.2, 0.6, 45, 300, 7500)] == ["under 1 s", "1 s", "45 s", "5 min", "2 h 05 min"]
