"""The blind listening test: clips in one common format behind opaque ids, answers that survive
restarts, crashes and concurrent listeners, the summary's statistics, and the page in Chromium."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tunesmith.errors import ConfigError, DataError
from tunesmith.judge import listen
from tunesmith.judge.web_commands import register

from .browser import browser, console_errors, play  # noqa: F401 (browser is a fixture)
from .conftest import make_piece


@pytest.fixture
def folders(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """REAL: a mono 22.05 kHz WAV, a stereo FLAC, a quiet OGG; GENERATED: two MIDI files and a WAV."""
    from tunesmith.io import write_midi

    real, generated = tmp_path / "real", tmp_path / "generated"
    (real / "sub").mkdir(parents=True)
    t = np.arange(22050) / 22050
    soundfile.write(real / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 22050)
    stereo = np.stack([np.sin(2 * np.pi * 330 * t), 0.3 * rng.standard_normal(len(t))], axis=1)[::2] * 0.9
    soundfile.write(real / "b.flac", stereo, 11025)
    soundfile.write(real / "sub" / "c.ogg", 0.05 * stereo, 11025)
    for seed in range(2):
        write_midi(make_piece(seed, beats=4), generated / f"g{seed}.mid")
    soundfile.write(generated / "g2.wav", 0.2 * np.sin(2 * np.pi * 220 * t[:8000]), 22050)
    return real, generated


@pytest.fixture
def server(folders: tuple[Path, Path], tmp_path: Path):
    """A listening-test server on a free port, serving in a thread; stopped afterwards."""
    srv = start(folders, tmp_path / "answers.sqlite")
    yield srv
    stop(srv)


def start(folders: tuple[Path, Path], db: Path) -> listen.ListeningServer:
    srv = listen.serve(*folders, db=db, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def stop(srv: listen.ListeningServer) -> None:
    srv.shutdown()
    srv.server_close()


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def get(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, response.read(), dict(response.headers)


def test_clips_share_one_format_and_hide_their_set(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clips = listen.prepare_clips(*folders, cache=tmp_path / "cache")
    assert sorted(c.source for c in clips) == ["generated"] * 3 + ["real"] * 3
    for clip in clips:
        audio, sr = soundfile.read(clip.audio, always_2d=True)
        info = soundfile.info(clip.audio)
        assert (sr, audio.shape[1], info.format, info.subtype) == (44100, 2, "WAV", "PCM_16")
        assert np.abs(audio).max() == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # -1 dBFS, quiet clip too
        assert re.fullmatch("[0-9a-f]{16}", clip.id) and re.fullmatch("[0-9a-f]{16}[.]wav", clip.audio.name)
    real_wav = next(c for c in clips if c.path.name == "a.wav")
    assert soundfile.info(real_wav.audio).duration == pytest.approx(1.0, abs=1e-3)
    again = listen.prepare_clips(*folders, cache=tmp_path / "cache")
    assert [(c.id, c.audio) for c in again] == [(c.id, c.audio) for c in clips]  # reused, stable ids


def test_clips_cut_to_seconds_and_refuse_empty_folders(folders: tuple[Path, Path], tmp_path: Path) -> None:
    clips = listen.prepare_clips(*folders, cache=tmp_path / "cache", seconds=0.25)
    assert {round(soundfile.info(c.audio).duration, 3) for c in clips} == {0.25}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio or MIDI files"):
        listen.prepare_clips(tmp_path / "empty", folders[1], cache=tmp_path / "cache")


def test_each_listener_has_a_stable_shuffle() -> None:
    ids = [f"{i:016x}" for i in range(12)]
    alice = listen.listener_order("alice", ids)
    assert sorted(alice) == ids and alice == listen.listener_order("alice", ids[::-1])
    assert alice != listen.listener_order("bob", ids) and alice != ids


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    listen.check_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com", ""])
def test_other_hosts_are_refused_in_one_line(host: str, folders: tuple[Path, Path], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["listen", *map(str, folders), "--host", host, "--db", str(tmp_path / "a.sqlite")])
    with pytest.raises(ConfigError, match="serves this machine only") as info:
        args.func(args)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "a.sqlite").exists()


def test_a_busy_port_is_a_one_line_error(server: listen.ListeningServer, folders, tmp_path: Path) -> None:
    port = server.server_address[1]
    with pytest.raises(ConfigError, match=f"port {port} .*choose another --port"):
        listen.serve(*folders, db=tmp_path / "other.sqlite", port=port)


def test_summary_matches_hand_computed_intervals(tmp_path: Path) -> None:
    db = tmp_path / "answers.sqlite"
    clips = [listen.Clip(f"c{i}", "generated" if i < 4 else "real", Path(f"/x/{i}.wav"), Path("/x")) for i in range(6)]
    listen.init_store(db, clips)
    a, b = listen.add_listener(db, "Alice"), listen.add_listener(db, "")
    assert listen.add_listener(db, "  alice ") == a and b != a
    for clip, rating, real in zip(["c0", "c1", "c2", "c3"], [2, 3, 4, 3], [True, False, False, False]):
        listen.save_answer(db, a, clip, rating=rating, says_real=real)
    listen.save_answer(db, b, "c4", rating=1, says_real=False)
    listen.save_answer(db, b, "c4", rating=5, says_real=True)  # a changed answer replaces the first
    summary = listen.summarize(db)
    assert (summary["listeners"], summary["answers"]) == (2, 5)
    generated = summary["sets"]["generated"]
    # mean 3, sd sqrt(2/3), sem 0.40825, t(0.975, 3) = 3.18245 -> 3 +- 1.29923
    assert generated["mos"] == 3.0 and generated["mos_ci"] == pytest.approx([1.70077, 4.29923], abs=1e-5)
    # Wilson, 1 of 4, z = 1.95996: centre 0.37247, half-width 0.32689
    assert generated["judged_real"] == 0.25
    assert generated["judged_real_ci"] == pytest.approx([0.045587, 0.699358], abs=1e-6)
    assert summary["generated_taken_for_real"] == {"rate": 0.25, "ci": generated["judged_real_ci"]}
    real = summary["sets"]["real"]
    assert (real["answers"], real["mos"], real["mos_ci"], real["judged_real"]) == (1, 5.0, None, 1.0)
    text = listen.format_summary(summary)
    assert "2 listeners, 5 answers" in text and "MOS 3.00 [1.70, 4.30]" in text and "judged real 25% [5%, 70%]" in text


def test_requests_are_checked_and_nothing_names_a_set(server: listen.ListeningServer) -> None:
    url = server.url
    status, body = post(url + "api/listener", {"name": "carol"})
    lid = body["listener"]
    status, raw, _ = get(url + f"api/clips?listener={lid}")
    listing = json.loads(raw)
    assert sorted(listing["clips"]) == sorted(server.clips) and listing["answered"] == {}
    for word in ("real", "generated", ".wav", ".mid", "g0", "a.wav"):
        assert word not in raw.decode()
    page = get(url)[1].decode()
    assert "/clip/" in page and not any(c in page for c in server.clips)
    clip = listing["clips"][0]
    assert post(url + "api/answer", {"listener": lid, "clip": clip, "rating": 6, "real": True})[0] == 400
    assert post(url + "api/answer", {"listener": lid, "clip": clip, "rating": 3, "real": "yes"})[0] == 400
    assert post(url + "api/answer", {"listener": lid, "clip": "nope", "rating": 3, "real": True})[0] == 404
    assert post(url + "api/answer", {"listener": "stranger", "clip": clip, "rating": 3, "real": True})[0] == 400
    assert post(url + "api/answer", {"listener": lid, "clip": clip, "rating": 3, "real": True}) == (200, {"ok": True})
    whole = get(url + f"clip/{clip}")[1]
    status, part, headers = get(url + f"clip/{clip}", {"Range": "bytes=4-11"})
    assert whole[:4] == b"RIFF" and status == 206 and part == whole[4:12]
    assert headers["Content-Range"] == f"bytes 4-11/{len(whole)}"


def test_concurrent_listeners_lose_no_answer(server: listen.ListeningServer) -> None:
    url, clips = server.url, sorted(server.clips)
    listeners = [post(url + "api/listener", {"name": f"listener {i}"})[1]["listener"] for i in range(8)]
    jobs = [(lid, clip, 1 + (i + j) % 5) for i, lid in enumerate(listeners) for j, clip in enumerate(clips)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(
                lambda job: post(url + "api/answer", dict(zip(("listener", "clip", "rating"), job), real=job[2] > 2))[
                    0
                ],
                jobs * 2,
            )
        )
    assert statuses == [200] * (2 * len(jobs))
    with sqlite3.connect(server.db) as conn:
        rows = conn.execute("SELECT listener, clip, rating FROM answers").fetchall()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sorted(rows) == sorted(jobs)


def test_answers_survive_a_killed_server(folders: tuple[Path, Path], tmp_path: Path) -> None:
    db = tmp_path / "answers.sqlite"
    code = (
        "import sys; from tunesmith.judge.listen import serve\n"
        f"s = serve({str(folders[0])!r}, {str(folders[1])!r}, db={str(db)!r}, port=0)\n"
        "print(s.url, *s.clips, flush=True); s.serve_forever()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        url, *clips = proc.stdout.readline().split()
        lid = post(url + "api/listener", {"name": "dave"})[1]["listener"]
        for rating, clip in enumerate(clips[:4], start=1):
            assert post(url + "api/answer", {"listener": lid, "clip": clip, "rating": rating, "real": False})[0] == 200
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    summary = listen.summarize(db)
    assert (summary["listeners"], summary["answers"]) == (1, 4)


def current_clip(driver) -> str | None:
    """The id of the clip the page plays now, or None."""
    src = driver.find_element("id", "player").get_attribute("src")
    return src.rsplit("/clip/", 1)[1] if src and "/clip/" in src else None


def answer_in_browser(driver, server: listen.ListeningServer, name: str, count: int, rng) -> list[tuple]:
    """Open the page as ``name`` and answer ``count`` clips; return ``(clip, set, rating, real)``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server.url)
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "start").click()
    given = []
    for _ in range(count):
        clip = WebDriverWait(driver, 10).until(current_clip)
        assert play(driver, 0)["ok"]
        rating, real = int(rng.integers(1, 6)), bool(rng.integers(0, 2))
        driver.find_element(By.CSS_SELECTOR, f"input[name=rating][value='{rating}']").click()
        driver.find_element(By.CSS_SELECTOR, f"input[name=origin][value={'real' if real else 'generated'}]").click()
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 10).until(
            lambda d, shown=clip: d.find_element(By.ID, "done").is_displayed() or current_clip(d) != shown
        )
        given.append((clip, server.clips[clip].source, rating, real))
    return given


def test_two_listeners_in_the_browser_across_a_restart(
    browser,
    folders,
    tmp_path: Path,
    rng,
    capsys,  # noqa: F811
) -> None:
    db = tmp_path / "answers.sqlite"
    srv = start(folders, db)
    try:
        given = answer_in_browser(browser, srv, "alice", 2, rng) + answer_in_browser(browser, srv, "bob", 3, rng)
    finally:
        stop(srv)
    srv = start(folders, db)  # the same database, a new server (and port)
    try:
        more = answer_in_browser(browser, srv, "alice", 4, rng)  # alice goes on with her remaining clips
        assert browser.find_element("id", "done").is_displayed()
        assert browser.find_element("id", "progress").get_attribute("textContent") == "Clip 6 of 6"
    finally:
        stop(srv)
    assert console_errors(browser) == []
    alice = [g[0] for g in given[:2] + more]
    assert sorted(alice) == sorted(srv.clips)
    assert alice == listen.listener_order(listen.add_listener(db, "alice"), alice)  # her own shuffle
    answers = given + more
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["listen", "--results", str(db), "--json"])
    args.func(args)
    summary = json.loads(capsys.readouterr().out)
    assert (summary["listeners"], summary["answers"]) == (2, len(answers))
    for source in ("real", "generated"):
        mine = [a for a in answers if a[1] == source]
        assert summary["sets"][source]["answers"] == len(mine)
        assert summary["sets"][source]["mos"] == pytest.approx(np.mean([a[2] for a in mine]))
        assert summary["sets"][source]["judged_real"] == pytest.approx(np.mean([a[3] for a in mine]))
