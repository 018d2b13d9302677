"""ui/uploads.py: which uploaded files a session lets go of after a full run (no Streamlit run
needed: the decision is a plain function)."""

from ui.uploads import expired


def test_files_no_uploader_holds_go_after_the_grace_period():
    stored = {"held", "new", "old"}
    gone, seen = expired(stored, held={"held"}, seen={"old": 100.0}, now=131.0, grace_seconds=30)
    assert gone == {"old"} and seen == {"new": 131.0}  # "new" was just seen unheld: it waits
    gone, seen = expired({"held", "new"}, held={"held"}, seen=seen, now=150.0, grace_seconds=30)
    assert gone == set() and seen == {"new": 131.0}
    gone, seen = expired({"held", "new"}, held={"held", "new"}, seen=seen, now=170.0, grace_seconds=30)
    assert gone == set() and seen == {}  # its uploader shows it now: never let go
    gone, seen = expired({"held"}, held=set(), seen={}, now=0.0, grace_seconds=0)
    assert gone == {"held"}
