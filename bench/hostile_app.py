"""Hostile inputs through the app: the issue's hostile uploads sent to a `streamlit run app.py`
server the way a browser sends them, and a hostile session against the server's memory.

``python -m bench.hostile_app [--cases NAME ...] [--runs 200] [--data digits|letters] [--seconds-limit 600]``

A raw WebSocket client (``bench.streamlit_client.Session``, speaking Streamlit's protocol) opens the Data
page's "Load data" tab (or the Models page), asks the server for upload URLs, PUTs each file
as the browser does, sets the uploader and clicks its Load button. For each case it reports
the seconds from the click to the page's answer, the server's peak resident memory above
its state before the upload (``/proc/<pid>/clear_refs`` resets the peak), what it still
holds afterwards, and the page's message. Cases (``bench.hostile_inputs``):

=================  =====================================================================
``csv_rows``       gzipped CSV of 1,000,000 rows (2.9 MB; 1.57 GB of text)
``idx_images``     gzipped IDX pair promising 1,000,000 images (0.8 MB)
``csv_blank``      10 MB CSV of blank lines and one bad last row
``model_80000``    a 250 KB ``.npz`` of a 784-80000-10 network (Models page)
``eight_50mb``     eight 50 MB CSV uploads one after the other (refused at their first row):
                   what the server keeps of them
=================  =====================================================================

``--runs N`` then plays a hostile session: every case above, then a small legitimate data set
(``--data``: a 100-image CSV of digits, or a 260-image EMNIST letters upload) and N one-epoch
runs of the widest network (784-512-512-512-512-10) trained on it, one after the other as
fast as the page allows; it reports the server's resident memory after each tenth run and
its peak. ``hostile_session`` is what ``tests/deploy/test_hostile_session.py`` runs.

The server runs on loopback with XSRF protection off (this client sends no XSRF cookie).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np

from bench import hostile_inputs
from bench.streamlit_client import REPO, Server, Session

MB = 10**6
CASES = ("csv_rows", "idx_images", "csv_blank", "model_80000", "eight_50mb")
SERVER_ARGS = ("--server.enableXsrfProtection", "false", "--server.enableCORS", "false")


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(field)


class ServerMemory:
    """The server process's resident memory and its peak since :meth:`reset`."""

    def __init__(self, pid: int):
        self.pid = pid

    def rss(self) -> int:
        return _status(self.pid, "VmRSS")

    def peak(self) -> int:
        return _status(self.pid, "VmHWM")

    def reset(self) -> None:
        with open(f"/proc/{self.pid}/clear_refs", "w") as handle:
            handle.write("5")  # VmHWM starts again from the current VmRSS


class BrowserLikeSession(Session):
    """A session that also uploads files and opens tabs (as the browser's uploader does)."""

    def __init__(self, url: str, http_base: str, deadline: float):
        super().__init__(0, url, seed=0, epochs=None, deadline=deadline)
        self.http = http_base

    def open(self, page: str) -> None:
        self.connect()
        self._run(page_name=page)

    def choose(self, label: str, value) -> None:
        self._set_widget(label, value)
        self._run()

    def click(self, label: str) -> float:
        """Click the button ``label``; the seconds until the page's run has finished."""
        began = time.perf_counter()
        self._run(triggers=[self.widget_ids[label][0]])
        return time.perf_counter() - began

    def _file_urls(self, names: list[str]):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        request = BackMsg()
        request.file_urls_request.request_id = uuid.uuid4().hex
        request.file_urls_request.session_id = self.session_id
        request.file_urls_request.file_names.extend(names)
        self.ws.send_binary(request.SerializeToString())
        while True:
            msg = ForwardMsg()
            msg.ParseFromString(self.ws.recv())
            if msg.WhichOneof("type") == "file_urls_response" and \
                    msg.file_urls_response.response_id == request.file_urls_request.request_id:
                if msg.file_urls_response.error_msg:
                    raise RuntimeError(msg.file_urls_response.error_msg)
                return list(msg.file_urls_response.file_urls)

    def _put(self, upload_url: str, name: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.http + upload_url, data=body, method="PUT",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()

    def upload(self, label: str, name: str, data: bytes) -> None:
        """Upload ``data`` as ``name`` into the uploader ``label`` (not yet rerun)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        urls = self._file_urls([name])[0]
        self._put(urls.upload_url, name, data)
        widget_id = self.widget_ids[label][0]
        state = WidgetState(id=widget_id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, name, len(data)
        info.file_urls.CopyFrom(urls)
        self.widget_values[widget_id] = state

    def forget_uploads(self) -> None:
        """Drop the uploader states this client sends (the page draws new uploaders)."""
        for widget_id in [w for w, s in self.widget_values.items() if s.HasField("file_uploader_state_value")]:
            del self.widget_values[widget_id]

    def message(self) -> str:
        text = next((t for t in self.texts if "Nothing was changed" in t or t.startswith("Now using")
                     or "at most" in t), " | ".join(self.texts[-2:]))
        return " ".join(text.split())


def _data_page(session: BrowserLikeSession, source: str) -> None:
    session.open("data")
    session.choose("tabs", "Load data")
    session.choose("Source", source)


def _load(session: BrowserLikeSession, memory: ServerMemory, files: list[tuple[str, str, bytes]],
          button: str) -> dict:
    """Upload ``files`` ((uploader label, name, bytes)), click ``button``: seconds, MB, message."""
    for label, name, data in files:
        session.upload(label, name, data)
    session._run()  # the uploader shows the files (the browser reruns after an upload)
    memory.reset()
    before = memory.rss()
    seconds = session.click(button) if button else 0.0
    session.forget_uploads()
    return {"seconds": seconds, "peak_mb": (memory.peak() - before) / MB, "kept_mb": (memory.rss() - before) / MB,
            "message": session.message()[:200]}


def run_case(name: str, session_url: str, http: str, memory: ServerMemory, deadline: float) -> dict:
    session = BrowserLikeSession(session_url, http, deadline)
    try:
        if name == "csv_rows":
            _data_page(session, "Kaggle train.csv")
            return _load(session, memory, [("train.csv", "rows.csv.gz", hostile_inputs.csv_million_rows_gz())],
                         "Load this file")
        if name == "csv_blank":
            _data_page(session, "Kaggle train.csv")
            return _load(session, memory, [("train.csv", "blank.csv", hostile_inputs.csv_blank_bad_last())],
                         "Load this file")
        if name == "idx_images":
            images, labels = hostile_inputs.idx_million_images_gz()
            _data_page(session, "MNIST IDX files")
            return _load(session, memory, [("Images (idx3)", "images.gz", images), ("Labels (idx1)", "labels.gz",
                                                                                     labels)], "Load these files")
        if name == "model_80000":
            session.open("models")
            memory.reset()
            before = memory.rss()
            began = time.perf_counter()
            session.upload("A Digit Lab model (.npz)", "big.npz", hostile_inputs.model_784_80000_10())
            session._run()  # the page reads an uploaded model as soon as it arrives
            seconds = time.perf_counter() - began
            session.forget_uploads()
            return {"seconds": seconds, "peak_mb": (memory.peak() - before) / MB,
                    "kept_mb": (memory.rss() - before) / MB, "message": session.message()[:200]}
        if name == "eight_50mb":
            _data_page(session, "Kaggle train.csv")
            junk = hostile_inputs.HEADER + b"3,x" + b",0" * 783 + b"\n" + b"0" * (50 * MB)
            baseline = memory.rss()
            kept, seconds = [], 0.0
            for index in range(8):
                result = _load(session, memory, [("train.csv", f"junk-{index}.csv", junk)], "Load this file")
                seconds += result["seconds"]
                kept.append(round((memory.rss() - baseline) / MB))
            return {"seconds": seconds, "peak_mb": None, "kept_mb": kept[-1],
                    "message": f"kept after each upload (MB): {kept}; {result['message'][:120]}"}
        raise ValueError(name)
    finally:
        if session.ws is not None:
            session.ws.close()


def small_csv(n: int = 100) -> bytes:
    """A legitimate Kaggle train.csv of ``n`` bundled images, evenly spread over the ten
    digits (the bundled images are sorted by label)."""
    from datasets import load_bundled

    data = load_bundled()
    step = max(1, len(data.labels) // n)
    labels, images = data.labels[::step][:n], data.images[::step][:n]
    rows = [",".join(map(str, [int(label), *image])) for label, image in zip(labels, images.tolist())]
    return hostile_inputs.HEADER + ("\n".join(rows) + "\n").encode()


def small_letters_idx(n: int = 260) -> tuple[bytes, bytes]:
    """(images, labels): an EMNIST letters IDX pair of ``n`` images (bundled digits, stored
    transposed as EMNIST's are) labelled a to z in turn (EMNIST's labels 1 to 26)."""
    from datasets import load_bundled

    images = load_bundled().images[:n].reshape(n, 28, 28).transpose(0, 2, 1)
    labels = np.arange(n, dtype=np.uint8) % 26 + 1
    return (hostile_inputs._idx_header(0x803, n, 28, 28) + images.astype(np.uint8).tobytes(),
            hostile_inputs._idx_header(0x801, n) + labels.tobytes())


def _load_session_data(session: BrowserLikeSession, memory: ServerMemory, data: str) -> None:
    """Make the small ``data`` ("digits": a Kaggle CSV, "letters": EMNIST IDX files) the session's."""
    if data == "digits":
        _data_page(session, "Kaggle train.csv")
        loaded = _load(session, memory, [("train.csv", "small.csv", small_csv())], "Load this file")
    else:
        _data_page(session, "EMNIST letters & more")
        images, labels = small_letters_idx()
        loaded = _load(session, memory, [("EMNIST images (idx3)", "emnist-letters-train-images-idx3-ubyte", images),
                                         ("EMNIST labels (idx1)", "emnist-letters-train-labels-idx1-ubyte", labels)],
                       "Load EMNIST letters")
    if not loaded["message"].startswith("Now using"):
        raise RuntimeError(f"the small {data} data was not loaded: {loaded['message']}")


def hostile_session(session_url: str, http: str, memory: ServerMemory, runs: int, deadline: float,
                    report=print, poll_seconds: float = 0.1, data: str = "digits") -> dict:
    """Every hostile upload, then a small CSV and ``runs`` one-epoch runs of the widest network,
    in one session; the page's answer to each upload, and the server's resident memory
    (MB above its state before) after each tenth run, at its peak and at the end.

    Each run is started as soon as the last one is done; the client polls the page's
    progress fragment every ``poll_seconds`` meanwhile (the browser: every 0.5 s). The
    numbers the page gives the runs are checked, so every run counted was trained.

    data: "digits" (a Kaggle CSV of 100 bundled images: the app then also scores each run on
    the 10,000 real MNIST test images, about 0.4-0.8 s of a run of this network on a busy
    2-core machine, most of its time) or "letters" (an EMNIST letters upload of 260 images:
    MNIST's test set does not apply to letters, so a run is only its training and saving).
    """
    baseline = memory.rss()
    memory.reset()
    answers = {}
    for name in CASES:
        answers[name] = run_case(name, session_url, http, memory, deadline)["message"]
        report(f"{name}: {answers[name][:100]}")
    session = BrowserLikeSession(session_url, http, deadline)
    _load_session_data(session, memory, data)
    session.page_hash = ""  # a page's hash takes precedence over the page name asked for
    session._run(page_name="train")
    for label, value in (("Epochs", 1), ("Hidden width", 512), ("Hidden layers", 4)):
        session._set_widget(label, value)
    session._run()
    rss, numbers = [], []
    for number in range(1, runs + 1):
        session._run(triggers=[session.widget_ids["Start"][0]])
        while session._observe() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {number} did not finish in time")
            time.sleep(poll_seconds)
            session.poll()
        numbers.append(_current_run(session.texts))
        if number % 10 == 0:
            rss.append(round((memory.rss() - baseline) / MB))
            report(f"run {number}: server +{rss[-1]} MB")
    session.ws.close()
    return {"answers": answers, "runs": len(set(numbers) - {None}), "last_run": numbers[-1] if numbers else None,
            "rss_mb_every_10_runs": rss, "peak_mb": (memory.peak() - baseline) / MB,
            "final_mb": (memory.rss() - baseline) / MB}


def _current_run(texts: list[str]) -> int | None:
    """The number of the run the page shows as the current model ("…, run 12")."""
    for text in texts:
        match = re.match(r"\d+(?:-\d+)+ [^,\n]*, run (\d+)\b", text)  # "784-512-10 ReLU, run 12"
        if match:
            return int(match.group(1))
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--runs", type=int, default=0, help="then a hostile session of this many runs")
    parser.add_argument("--data", choices=("digits", "letters"), default="digits",
                        help="the hostile session's own data (see hostile_session)")
    parser.add_argument("--seconds-limit", type=float, default=600)
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose app runs (e.g. an older one)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.seconds_limit
    env = {"OPENBLAS_NUM_THREADS": "1", "DIGIT_LAB_MAX_JOBS": "1"}
    with Server(env, args=SERVER_ARGS, root=args.code.resolve()) as server:
        http = f"http://127.0.0.1:{server.port}"
        memory = ServerMemory(server.process.pid)
        print(f"# Hostile inputs through the app; load average {os.getloadavg()[0]:.1f}; server starts at "
              f"{memory.rss() / MB:.0f} MB")
        print("| case | seconds to the answer | server peak MB above before | kept MB | the page says |")
        print("|---|---|---|---|---|")
        for name in args.cases:
            result = run_case(name, server.url, http, memory, deadline)
            peak = "" if result["peak_mb"] is None else f"{result['peak_mb']:.0f}"
            print(f"| {name} | {result['seconds']:.2f} | {peak} | {result['kept_mb']:.0f} | {result['message']} |",
                  flush=True)
        if args.runs:
            print(json.dumps(hostile_session(server.url, http, memory, args.runs, deadline, data=args.data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
