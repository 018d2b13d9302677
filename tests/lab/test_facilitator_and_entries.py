"""The facilitator's token cannot be guessed quickly (10 wrong tokens a minute per process,
then every token is refused for a while), and a challenge entry needs a run trained in this
lab that passes the verdict (before: an uploaded model whose file claimed the rules' settings
was entered under the challenge)."""

import pytest

from lab import facilitator, leaderboard
from lab.challenges import from_dict
from lab.facilitator import TokenAttempts, TokenError, check_token
from lab.model_files import UPLOADED
from lab.runs import Run
from nn.training import History, TrainConfig


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_wrong_tokens_are_limited_per_process_and_then_every_token_waits():
    clock = Clock()
    attempts = TokenAttempts(limit=10, window=60, clock=clock)
    for _ in range(10):
        with pytest.raises(TokenError, match="wrong facilitator token"):
            check_token("guess", "s3cret", attempts)
        clock.now += 1
    with pytest.raises(TokenError, match=r"too many wrong facilitator tokens .* try again in 50 s"):
        check_token("s3cret", "s3cret", attempts)  # the right one too: a refusal must not tell
    clock.now += 49.5
    with pytest.raises(TokenError, match="too many"):
        check_token("guess", "s3cret", attempts)
    clock.now += 0.5  # the first wrong token is a minute old
    check_token("s3cret", "s3cret", attempts)
    with pytest.raises(TokenError, match="wrong facilitator token"):
        check_token("guess", "s3cret", attempts)
    with pytest.raises(TokenError, match="too many"):
        check_token("s3cret", "s3cret", attempts)


def test_the_process_counts_every_action_and_a_guesser_gets_ten_tries(tmp_path):
    """Before: each clear with a wrong token was answered 'wrong token', without end."""
    board = leaderboard.open_leaderboard(f"sqlite://{tmp_path / 'board.sqlite3'}")
    answers = []
    for guess in range(100):
        try:
            board.clear(f"guess-{guess}", expected_token="s3cret")
        except leaderboard.LeaderboardError as error:
            answers.append(str(error))
    assert sum(answer == "wrong facilitator token" for answer in answers) == facilitator.MAX_WRONG_TOKENS
    assert all("too many wrong facilitator tokens" in answer for answer in answers[facilitator.MAX_WRONG_TOKENS:])
    with pytest.raises(leaderboard.LeaderboardError, match="too many"):
        board.clear("s3cret", expected_token="s3cret")
    facilitator.default_attempts().reset()  # a minute later
    assert board.clear("s3cret", expected_token="s3cret") == 0


def test_without_a_server_token_nothing_is_counted():
    attempts = TokenAttempts(limit=1)
    for _ in range(3):
        with pytest.raises(TokenError, match="disabled"):
            check_token("guess", "", attempts)
    attempts.check()


CHALLENGE = from_dict({"id": "tiny", "title": "Tiny", "goal": {"metric": "test_accuracy", "at_least": 0.9},
                       "limits": {"width": {"max": 16}, "epochs": {"max": 5}}, "locked": {"layers": 1}})


def run(number=3, status="completed", accuracy=0.95, width=16, epochs=5) -> Run:
    config = TrainConfig(hidden_sizes=(width,), epochs=epochs, optimizer="adam", batch_size=64)
    return Run(number, config, status, "", None, History(), "bundled", 1.0, test_accuracy=accuracy)


def test_only_a_run_trained_here_that_passes_the_verdict_enters_the_challenge():
    assert CHALLENGE.entry_verdict(run(), since=2) == CHALLENGE.judge(run()) and CHALLENGE.judge(run())[0]
    # An uploaded model whose file claims the rules' settings and reaches the goal on the test set:
    passed, reasons = CHALLENGE.entry_verdict(run(status=UPLOADED), since=2)
    assert not passed and "uploaded, not trained in this lab" in reasons[0]
    passed, reasons = CHALLENGE.entry_verdict(run(number=1), since=2)
    assert not passed and "before the challenge was chosen" in reasons[0]
    passed, reasons = CHALLENGE.entry_verdict(run(accuracy=0.5), since=2)  # within the rules, short of the goal
    assert not passed and "below the goal" in reasons[0]
    passed, reasons = CHALLENGE.entry_verdict(run(width=64), since=2)
    assert not passed and "above the maximum" in reasons[0]
    assert not CHALLENGE.entry_verdict(run(status="stopped"), since=2)[0]
