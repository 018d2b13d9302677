"""lab/session_jobs.py: a job outlives its page for the grace period; only the session that
started it (or the last one holding it) can stop it by closing."""

import time

from lab.jobs import COMPLETED, STOPPED, TrainingJob
from lab.session_jobs import JobHolders, SessionJobs, closed_message, grace_seconds
from nn.training import TrainConfig

TIMEOUT = 30


class ManualTimers:
    """Grace timers that fire when the test says so."""

    def __init__(self):
        self.pending = []

    def __call__(self, seconds, function):
        timer = Timer(seconds, function)
        self.pending.append(timer)
        return timer

    def fire_all(self):
        for timer in self.pending:
            if not timer.cancelled:
                timer.function()
        self.pending = []


class Timer:
    def __init__(self, seconds, function):
        self.seconds, self.function, self.cancelled = seconds, function, False

    def cancel(self):
        self.cancelled = True


def endless(data):
    config = TrainConfig(hidden_sizes=(8,), epochs=100_000, batch_size=1, optimizer="adam", learning_rate=1e-3,
                         snapshot_every=0)
    return TrainingJob(config, *data).start()


def holders_and_sessions(n=3, grace=120):
    timers = ManualTimers()
    holders = JobHolders(grace=grace, timer=timers)
    return holders, timers, [SessionJobs(holders) for _ in range(n)]


def test_a_closed_page_leaves_its_job_training_until_the_grace_period_ends(data):
    holders, timers, (tab, _, _) = holders_and_sessions()
    job = endless(data)
    tab.start(job)
    assert tab.release() == 1 and holders.orphaned(job)
    assert [t.seconds for t in timers.pending] == [120]
    time.sleep(0.05)
    assert not job.stop_requested  # a network blip is not a stop
    timers.fire_all()  # nobody came back
    assert job.join(TIMEOUT)
    snapshot = job.snapshot()
    assert snapshot.status == STOPPED and snapshot.message.startswith(closed_message(120))
    assert "the page was closed" in snapshot.message and "user" not in snapshot.message
    assert not holders.orphaned(job)


def test_a_page_that_comes_back_within_the_grace_period_takes_the_job_back(data):
    holders, timers, (tab, reloaded, _) = holders_and_sessions()
    job = endless(data)
    tab.start(job)
    tab.release()  # the WebSocket closed (a blip, a reload)
    reloaded.hold(job)  # the page came back: a new session of the same lab
    assert not holders.orphaned(job) and holders.owner(job) is reloaded
    timers.fire_all()  # the cancelled timer does nothing
    time.sleep(0.05)
    assert not job.stop_requested
    reloaded.release()  # it owns the job now: closing it starts the grace period again
    assert holders.orphaned(job)
    timers.fire_all()
    assert job.join(TIMEOUT) and job.snapshot().status == STOPPED


def test_closing_a_duplicate_tab_never_stops_the_original_tabs_job(data):
    holders, timers, (original, duplicate, _) = holders_and_sessions()
    job = endless(data)
    original.start(job)
    duplicate.hold(job)
    assert duplicate.release() == 0 and timers.pending == []
    assert holders.owner(job) is original and not holders.orphaned(job)
    # the original closes while another tab still shows the job: that tab holds it on
    third = SessionJobs(holders)
    third.hold(job)
    assert original.release() == 0 and holders.owner(job) is third and timers.pending == []
    job.stop()
    assert job.join(TIMEOUT)


def test_without_a_grace_period_a_closed_page_stops_its_job_at_once(data):
    holders, timers, (tab, _, _) = holders_and_sessions(grace=0)
    job = endless(data)
    tab.start(job)
    assert tab.release() == 1 and timers.pending == []
    assert job.join(TIMEOUT) and job.snapshot().message.startswith(closed_message(0))


def test_finished_jobs_are_forgotten_and_never_held(data):
    holders, timers, (tab, other, _) = holders_and_sessions()
    config = TrainConfig(hidden_sizes=(8,), epochs=1, batch_size=50, optimizer="adam", learning_rate=1e-3,
                         snapshot_every=0)
    job = TrainingJob(config, *data).start()
    assert job.join(TIMEOUT) and job.snapshot().status == COMPLETED
    tab.start(job)
    assert tab.release() == 0 and timers.pending == [] and holders.owner(job) is None
    other.hold(job)
    assert not holders.orphaned(job)


def test_the_grace_period_from_the_environment():
    assert grace_seconds({}) == 120
    assert grace_seconds({"DIGIT_LAB_JOB_GRACE_SECONDS": "30"}) == 30
    assert grace_seconds({"DIGIT_LAB_JOB_GRACE_SECONDS": "-1"}) == 120
