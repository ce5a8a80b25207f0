"""Hostile corpus for the one write/delete guard (core/guard.py), through the CLI: symlinks,
users' files under the tool's names, edited outputs, forged site records, prune among a
user's own files, locks. Every case asserts the exit code, the one message line naming
the file, no traceback, and, from digests of the whole tmp tree before and after, that
nothing outside the target folder (and the phrase cache) changed and no file of the
user's inside it changed or went away."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.core.guard import SITE_RECORD_NAME, peek

from ..conftest import MINIMAL

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"the user's own bytes\n"


def snapshot(root: Path) -> dict[str, str]:
    """Every path below `root` (symlinks not followed): a file's sha256, a link's target, 'dir'."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@dataclass
class World:
    """A tmp tree: `lib/` scripts, `victim/` the user's files elsewhere, targets below."""

    root: Path
    user: set[str] = field(default_factory=set)     # user files planted inside a target (relative)

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def victim(self) -> Path:
        return self.root / "victim"

    def script(self, routine_id: str = "mini", name: str | None = None) -> Path:
        path = self.lib / (name or f"{routine_id}.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = MINIMAL.replace("id: mini", f"id: {routine_id}")
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return path

    def mine(self, path: Path, data: bytes = SECRET) -> Path:
        """A file of the user's, inside a target."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.user.add(path.relative_to(self.root).as_posix())
        return path

    def link(self, path: Path, target: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        self.user.add(path.relative_to(self.root).as_posix())
        return path


def cli_run(*args: str, env: dict[str, str] | None = None):
    return CliRunner(mix_stderr=False).invoke(cli, [str(a) for a in args], env=env)


def build(world: World, out: Path, *extra: str, script: Path | None = None):
    return cli_run("build", script or world.script(), "--level", "beginner", "--out", out, *extra)


@pytest.fixture
def world(tmp_path: Path) -> World:
    found = World(tmp_path)
    found.victim.mkdir()
    (found.victim / "secret.txt").write_bytes(SECRET)
    (found.victim / "mini-beginner.mp3").write_bytes(SECRET)
    found.script()
    return found


def check(world: World, before: dict[str, str], result, code: int, targets: list[Path],
          line: str | None = None) -> None:
    """The guarantees every case asserts (see the module docstring)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output and result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code == code, output
    if line is not None:
        errors = [text for text in result.stderr.splitlines() if text.startswith("error:")]
        assert errors == [line], result.stderr
    after = snapshot(world.root)
    allowed = [t.relative_to(world.root).as_posix() for t in targets] + ["cache", "home"]
    for rel in sorted(before.keys() | after.keys()):
        if before.get(rel) == after.get(rel):
            continue
        assert rel not in world.user, f"a file of the user's changed or went away: {rel}"
        assert any(rel == top or rel.startswith(top + "/") for top in allowed), f"written outside the target: {rel}"
        if code == 2 and rel.split("/")[0] not in ("cache", "home"):   # refused: before any work
            assert Path(rel).name.startswith(".audioroutine"), f"written by a run that was refused: {rel}"
    for rel in world.user:
        assert after.get(rel) == before.get(rel), rel


def refused(path: Path, why: str) -> str:
    return f"error: {path}: {why}"


NOT_OURS = "was not written by audioroutine (no record of it in .audioroutine-files.json); " \
           "move or rename it, or choose another folder"
CHANGED = "was changed since audioroutine wrote it, so it is yours now; move or rename it, then run again"
LINK = "is a symlink, and audioroutine never writes or deletes through one; remove the link, or choose another folder"
ROOT_LINK = "is a symlink, and audioroutine never writes through one; give the folder it points to, or another folder"


# -- build: symlinks, files and folders in the way ------------------------------------------


def test_build_out_is_a_symlink_to_another_folder(world):
    out = world.link(world.root / "out", world.victim)
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [], refused(out, ROOT_LINK))


def test_build_out_is_a_file(world):
    out = world.mine(world.root / "out")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [], refused(out, "is a file, not a folder; give a folder"))


@pytest.mark.parametrize("name", ["mini-beginner.mp3", "mini-beginner.vtt", "mini-beginner.lrc", "mini.m3u8"])
def test_build_output_name_is_a_symlink_out_of_the_folder(world, name):
    out = world.root / "out"
    link = world.link(out / name, world.victim / "secret.txt")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(link, LINK))


def test_build_output_name_is_a_folder(world):
    out = world.root / "out"
    (out / "mini-beginner.mp3").mkdir(parents=True)
    (out / "mini-beginner.mp3" / "keep.txt").write_bytes(SECRET)
    world.user.add("out/mini-beginner.mp3/keep.txt")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out],
          refused(out / "mini-beginner.mp3", "is not a regular file (a folder?); move it away"))


@pytest.mark.parametrize("name", ["mini-beginner.mp3", "mini-beginner.vtt", "mini-beginner.lrc", "mini.m3u8"])
def test_build_a_users_file_with_our_name_is_not_overwritten(world, name):
    out = world.root / "out"
    mine = world.mine(out / name, b"#EXTM3U\nmy.mp3\n" if name.endswith("m3u8") else SECRET)
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(mine, NOT_OURS))


def test_build_an_mp3_copied_in_under_our_name_without_provenance(world, tmp_path):
    out = world.root / "out"
    assert build(world, world.root / "elsewhere").exit_code == 0
    from mutagen.id3 import ID3

    copy = world.root / "elsewhere" / "mini-beginner.mp3"
    tags = ID3(copy)
    tags.delall("TXXX")   # no provenance: a file of the user's that looks like ours
    tags.save(copy)
    data = copy.read_bytes()
    shutil.rmtree(world.root / "elsewhere")
    mine = world.mine(out / "mini-beginner.mp3", data)
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(mine, NOT_OURS))


@pytest.mark.parametrize("name, edit", [
    ("mini-beginner.mp3", lambda p: p.write_bytes(p.read_bytes() + b"\0")),
    ("mini-beginner.vtt", lambda p: p.write_text(p.read_text().replace("Press", "Pushed"))),
    ("mini-beginner.lrc", lambda p: p.write_text(p.read_text() + "[00:00.00]my note\n")),
    ("mini.m3u8", lambda p: p.write_text(p.read_text() + "# my note\n")),
], ids=["mp3", "vtt", "lrc", "m3u8"])
def test_build_an_edited_output_is_the_users_and_is_not_rebuilt_over(world, name, edit):
    out = world.root / "out"
    script = world.script()
    assert build(world, out, script=script).exit_code == 0
    edit(out / name)
    world.user.add(f"out/{name}")
    script.write_text(script.read_text().replace("title: Mini", "title: Mini two"))   # every output changes
    before = snapshot(world.root)
    check(world, before, build(world, out, script=script), 2, [out], refused(out / name, CHANGED))


def test_build_the_record_is_a_symlink(world):
    out = world.root / "out"
    link = world.link(out / ".audioroutine-files.json", world.victim / "secret.txt")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(link, "is a symlink; remove it"))


def test_build_the_lock_file_is_a_symlink(world):
    out = world.root / "out"
    link = world.link(out / ".audioroutine.lock", world.victim / "secret.txt")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(link, "is a symlink; remove it"))


def test_build_a_users_file_named_like_the_lock(world):
    out = world.root / "out"
    mine = world.mine(out / ".audioroutine.lock", b"my notes\n")
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(mine, "is not audioroutine's lock file; move it away"))


def test_build_a_forged_record_claims_a_users_file(world):
    """A record that lists a user's file with the wrong digest proves nothing: refused."""
    out = world.root / "out"
    mine = world.mine(out / "mini-beginner.mp3")
    (out / ".audioroutine-files.json").write_text(json.dumps({"format": 2, "files": {
        "mini-beginner.mp3": {"sha256": "0" * 64, "size": 1, "mtime_ns": 1, "sources": []}}}))
    before = snapshot(world.root)
    check(world, before, build(world, out), 2, [out], refused(mine, CHANGED))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_build_into_a_read_only_folder(world):
    out = world.root / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        before = snapshot(world.root)
        result = build(world, out)
        check(world, before, result, 1, [out])
        assert result.stderr.count("\n") == 1 and str(out) in result.stderr
    finally:
        out.chmod(0o700)


def test_build_waits_for_the_lock_then_names_the_holder(world):
    out = world.root / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(out / '.audioroutine.lock')!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('held', flush=True)
        time.sleep(30)""")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        before = snapshot(world.root)
        world.user.add("out/.audioroutine.lock")
        result = cli_run("build", world.script(), "--level", "beginner", "--out", out,
                         env={"AUDIOROUTINE_LOCK_TIMEOUT": "1.5"})
        check(world, before, result, 1, [out])
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"warning: waiting for process {holder.pid}, which is writing into {out}")
        assert lines[1] == (f"error: {out / '.audioroutine.lock'}: process {holder.pid} has been writing into {out} "
                            f"for more than 2 s; wait for it to finish (or raise $AUDIOROUTINE_LOCK_TIMEOUT)")
    finally:
        holder.kill()
        holder.wait()


# -- build --prune ------------------------------------------------------------------------


def prune_lines(result, word: str = "pruned") -> list[str]:
    return [line.split()[0] for line in result.stdout.splitlines() if line.endswith(f"  {word}")]


def test_prune_leaves_a_users_playlist_and_an_mp3_copied_in(world):
    out = world.root / "out"
    keep, gone = world.script("a"), world.script("b")
    assert cli_run("build", keep, gone, "--level", "beginner", "--out", out).exit_code == 0
    world.mine(out / "mine.m3u8", b"#EXTM3U\nb-beginner.mp3\n")
    world.mine(out / "music.mp3", (out / "b-beginner.mp3").read_bytes())   # a copy, under another name
    world.mine(out / "b.m3u8", b"#EXTM3U\nb-beginner.mp3\n")               # our name, the user's own file
    gone.unlink()
    before = snapshot(world.root)
    dry = cli_run("build", world.lib, "--level", "beginner", "--out", out, "--prune", "--dry-run")
    assert snapshot(world.root) == before
    result = cli_run("build", world.lib, "--level", "beginner", "--out", out, "--prune")
    check(world, before, result, 0, [out])
    stale = [str(out / n) for n in ("b-beginner.mp3", "b-progressed.mp3", "b-beginner.vtt", "b-beginner.lrc")]
    assert prune_lines(result) == [s for s in stale if "progressed" not in s]
    assert prune_lines(dry, "would prune") == prune_lines(result)


def test_prune_keeps_the_outputs_of_scripts_not_given_that_still_exist(world):
    out = world.root / "out"
    a, b = world.script("a"), world.script("b")
    assert cli_run("build", b, "--level", "beginner", "--out", out).exit_code == 0
    before = snapshot(world.root)
    result = cli_run("build", a, "--level", "beginner", "--out", out, "--prune")
    check(world, before, result, 0, [out])
    assert prune_lines(result) == [] and (out / "b-beginner.mp3").is_file()


def test_prune_leaves_a_stale_output_the_user_edited(world):
    out = world.root / "out"
    a, b = world.script("a"), world.script("b")
    assert cli_run("build", a, b, "--level", "beginner", "--out", out).exit_code == 0
    (out / "b-beginner.lrc").write_text("my own lyrics\n")
    world.user.add("out/b-beginner.lrc")
    b.unlink()
    before = snapshot(world.root)
    result = cli_run("build", a, "--level", "beginner", "--out", out, "--prune")
    check(world, before, result, 0, [out])
    assert prune_lines(result) == [str(out / "b-beginner.mp3"), str(out / "b-beginner.vtt")]


def test_prune_never_deletes_outputs_written_before_the_record(world):
    out = world.root / "out"
    a, b = world.script("a"), world.script("b")
    assert cli_run("build", a, b, "--level", "beginner", "--out", out).exit_code == 0
    (out / ".audioroutine-files.json").unlink()   # as an older version left the folder
    world.user |= {f"out/b-beginner.{ext}" for ext in ("mp3", "vtt", "lrc")}
    b.unlink()
    before = snapshot(world.root)
    result = cli_run("build", a, "--level", "beginner", "--out", out, "--prune")
    check(world, before, result, 0, [out])   # a's outputs, with provenance, are rewritten and recorded
    assert prune_lines(result) == []


@pytest.mark.parametrize("forged", ["../victim/secret.txt", "ABS", "link.mp3", "sub/secret.txt"])
def test_prune_a_forged_record_cannot_reach_out(world, forged):
    out = world.root / "out"
    a = world.script("a")
    assert cli_run("build", a, "--level", "beginner", "--out", out).exit_code == 0
    world.link(out / "link.mp3", world.victim / "secret.txt")
    world.link(out / "sub", world.victim)
    name = str(world.victim / "secret.txt") if forged == "ABS" else forged
    record = json.loads((out / ".audioroutine-files.json").read_text())
    info = (world.victim / "secret.txt").stat()
    record["files"][name] = {"sha256": hashlib.sha256(SECRET).hexdigest(), "size": info.st_size,
                             "mtime_ns": info.st_mtime_ns, "sources": [str(world.root / "gone.yaml")]}
    (out / ".audioroutine-files.json").write_text(json.dumps(record))
    world.user.add("victim/secret.txt")
    before = snapshot(world.root)
    result = cli_run("build", a, "--level", "beginner", "--out", out, "--prune")
    check(world, before, result, 0, [out])
    assert prune_lines(result) == []


# -- publish --------------------------------------------------------------------------------

BASE = "https://clinic.example/ex/"


@pytest.fixture
def built(world) -> Path:
    out = world.root / "out"
    assert cli_run("build", world.script(), "--level", "beginner", "--out", out).exit_code == 0
    return out


def publish(out: Path, site: Path):
    return cli_run("publish", out, "--base-url", BASE, "--to", site)


def forged_site_record(site: Path, names: list[str], world: World) -> None:
    info = (world.victim / "secret.txt").stat()
    entry = {"sha256": hashlib.sha256(SECRET).hexdigest(), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
             "sources": []}
    (site / ".audioroutine-site.json").write_text(json.dumps({"format": 2, "files": {n: entry for n in names}}))


@pytest.mark.parametrize("name", ["ABS", "../victim/secret.txt", "sub/secret.txt", "sub/../../victim/secret.txt"])
@pytest.mark.parametrize("form", ["record", "old list"])
def test_publish_a_site_record_cannot_delete_outside_the_site(world, built, name, form):
    site = world.root / "site"
    site.mkdir()
    world.link(site / "sub", world.victim)
    name = str(world.victim / "secret.txt") if name == "ABS" else name
    if form == "record":
        forged_site_record(site, [name], world)
    else:
        (site / ".audioroutine-site.json").write_text(json.dumps({"files": [name]}))
    world.user.add("victim/secret.txt")
    before = snapshot(world.root)
    result = publish(built, site)
    check(world, before, result, 0, [site])
    assert "removed" not in result.stdout.replace("0 removed", "")


@pytest.mark.parametrize("name", ["index.html", "feed.xml", "mini-beginner.html", "mini-beginner.mp3",
                                  "assets/player.css"])
def test_publish_a_users_file_with_a_site_name_is_not_overwritten(world, built, name):
    site = world.root / "site"
    mine = world.mine(site / name)
    before = snapshot(world.root)
    check(world, before, publish(built, site), 2, [site],
          refused(mine, "was not written by audioroutine (no record of it in .audioroutine-site.json); "
                        "move or rename it, or choose another folder"))


def test_publish_leaves_a_users_file_that_holds_the_sites_bytes(world, built):
    """A site copied without its record (an upload tool that skips dotfiles): the files that
    are as publish would write them are left, not refused and not claimed."""
    assert publish(built, world.root / "first").exit_code == 0
    site = world.root / "site"
    copied = world.mine(site / "index.html", (world.root / "first" / "index.html").read_bytes())
    before = snapshot(world.root)
    check(world, before, publish(built, site), 0, [site])
    record = peek(site, SITE_RECORD_NAME).files
    assert "index.html" not in record and "mini-beginner.html" in record, record
    assert copied.read_bytes() == (world.root / "first" / "index.html").read_bytes()


def test_publish_an_edited_page_is_the_users(world, built):
    site = world.root / "site"
    assert publish(built, site).exit_code == 0
    (site / "index.html").write_text("<p>my page</p>")
    world.user.add("site/index.html")
    (world.lib / "mini.yaml").write_text(MINIMAL.replace("title: Mini", "title: Mini two"))
    assert cli_run("build", world.lib / "mini.yaml", "--level", "beginner", "--out", built).exit_code == 0
    before = snapshot(world.root)
    check(world, before, publish(built, site), 2, [site], refused(site / "index.html", CHANGED))


def test_publish_an_edited_file_of_a_removed_session_is_kept(world, built):
    site = world.root / "site"
    assert publish(built, site).exit_code == 0
    (site / "mini-beginner.chapters.json").write_text("{}")
    world.user.add("site/mini-beginner.chapters.json")
    for path in built.glob("mini-beginner.*"):
        path.unlink()
    other = world.script("other")
    assert cli_run("build", other, "--level", "beginner", "--out", built).exit_code == 0
    before = snapshot(world.root)
    result = publish(built, site)
    check(world, before, result, 0, [site])
    assert f"{site / 'mini-beginner.html'}  removed" in result.stdout
    assert "chapters.json  removed" not in result.stdout


def test_publish_to_a_symlink(world, built):
    site = world.link(world.root / "site", world.victim)
    before = snapshot(world.root)
    check(world, before, publish(built, site), 2, [], refused(site, ROOT_LINK))


def test_publish_to_a_file(world, built):
    site = world.mine(world.root / "site")
    before = snapshot(world.root)
    check(world, before, publish(built, site), 2, [], refused(site, "is a file, not a folder; give a folder"))


def test_publish_the_assets_folder_is_a_symlink(world, built):
    site = world.root / "site"
    link = world.link(site / "assets", world.victim)
    before = snapshot(world.root)
    result = publish(built, site)
    check(world, before, result, 2, [site], refused(link, LINK))


def test_publish_to_inside_out(world, built):
    site = built / "site"
    world.user |= {f"out/{p.name}" for p in built.iterdir()}   # the build's outputs stay as they are
    before = snapshot(world.root)
    result = publish(built, site)
    check(world, before, result, 0, [site])
    assert (site / "index.html").is_file()


def test_publish_out_inside_to(world):
    site = world.root / "site"
    out = site / "out"
    assert cli_run("build", world.script(), "--level", "beginner", "--out", out).exit_code == 0
    world.user |= {f"site/out/{p.name}" for p in out.iterdir()}
    before = snapshot(world.root)
    result = publish(out, site)
    check(world, before, result, 0, [site])


# -- programme, prescribe, say, watch -------------------------------------------------------

KNEE = MINIMAL.replace("id: mini", "id: knee")


@pytest.fixture
def clinic(world) -> Path:
    (world.lib).mkdir(exist_ok=True)
    (world.lib / "knee.yaml").write_text(KNEE)
    (world.lib / "patients.csv").write_text("ref,script,level\nP-0001,knee.yaml,beginner\n")
    (world.lib / "prog.yaml").write_text("id: knee-2\nscript: knee.yaml\nweeks: 2\n")
    return world.lib


@pytest.mark.parametrize("name", ["knee-beginner.pdf", "knee-beginner.html", "knee-beginner.mp3", "knee.m3u8"])
def test_prescribe_a_users_file_in_a_patient_folder(world, clinic, name):
    out = world.root / "out"
    mine = world.mine(out / "P-0001" / name)
    before = snapshot(world.root)
    result = cli_run("prescribe", clinic / "patients.csv", "--out", out)
    check(world, before, result, 2, [out], refused(mine, NOT_OURS))


def test_prescribe_names_every_users_file_of_every_patient_before_any_work(world, clinic):
    (clinic / "patients.csv").write_text("ref,script,level\nP-0001,knee.yaml,beginner\nP-0002,knee.yaml,beginner\n")
    out = world.root / "out"
    mine = [world.mine(out / "P-0002" / "knee-beginner.pdf"), world.mine(out / "P-0001" / "knee.m3u8")]
    before = snapshot(world.root)
    result = cli_run("prescribe", clinic / "patients.csv", "--out", out)
    check(world, before, result, 2, [out])   # nothing written: not even the first patient's sessions
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert sorted(errors) == sorted(refused(path, NOT_OURS) for path in mine)


def test_prescribe_a_patient_folder_is_a_symlink(world, clinic):
    out = world.root / "out"
    link = world.link(out / "P-0001", world.victim)
    before = snapshot(world.root)
    result = cli_run("prescribe", clinic / "patients.csv", "--out", out)
    check(world, before, result, 2, [out], refused(link, LINK))


def test_prescribe_out_is_a_symlink(world, clinic):
    out = world.link(world.root / "out", world.victim)
    before = snapshot(world.root)
    result = cli_run("prescribe", clinic / "patients.csv", "--out", out)
    check(world, before, result, 2, [], refused(out, ROOT_LINK))


def test_prescribe_an_edited_handout_is_the_users(world, clinic):
    out = world.root / "out"
    assert cli_run("prescribe", clinic / "patients.csv", "--out", out).exit_code == 0
    handout = out / "P-0001" / "knee-beginner.html"
    handout.write_text(handout.read_text() + "<p>my note</p>")
    world.user.add("out/P-0001/knee-beginner.html")
    (clinic / "knee.yaml").write_text(KNEE.replace("title: Mini", "title: Knee"))
    before = snapshot(world.root)
    result = cli_run("prescribe", clinic / "patients.csv", "--out", out)
    check(world, before, result, 2, [out], refused(handout, CHANGED))


def test_programme_a_users_handout_pdf(world, clinic):
    out = world.root / "out"
    mine = world.mine(out / "knee-2-week-1.pdf")
    before = snapshot(world.root)
    result = cli_run("programme", clinic / "prog.yaml", "--out", out)
    check(world, before, result, 2, [out], refused(mine, NOT_OURS))


def test_say_over_a_users_file(world):
    mine = world.mine(world.root / "talk" / "sample.wav")
    before = snapshot(world.root)
    result = cli_run("say", "Hello there.", "--engine", "fake", "--out", mine)
    check(world, before, result, 2, [world.root / "talk"], refused(mine, NOT_OURS))


def test_say_through_a_symlink(world):
    link = world.link(world.root / "talk" / "sample.wav", world.victim / "secret.txt")
    before = snapshot(world.root)
    result = cli_run("say", "Hello there.", "--engine", "fake", "--out", link)
    check(world, before, result, 2, [world.root / "talk"], refused(link, LINK))


def test_say_into_a_symlinked_folder(world):
    folder = world.link(world.root / "talk", world.victim)
    before = snapshot(world.root)
    result = cli_run("say", "Hello there.", "--engine", "fake", "--out", folder / "sample.wav")
    check(world, before, result, 2, [], refused(folder, ROOT_LINK))


def test_say_twice_overwrites_its_own_file(world):
    out = world.root / "talk" / "sample.wav"
    assert cli_run("say", "Hello there.", "--engine", "fake", "--out", out).exit_code == 0
    before = snapshot(world.root)
    result = cli_run("say", "Hello again.", "--engine", "fake", "--out", out)
    check(world, before, result, 0, [out.parent])


def once(monkeypatch) -> None:
    """`watch` builds once and stops, as after Ctrl-C."""
    from audioroutine.run import watch

    real = watch.watch
    monkeypatch.setattr(watch, "watch", lambda files, rebuild, **kw: real(files, rebuild, stop=lambda: True))


def test_watch_a_users_file_with_our_name_is_one_line_and_the_watch_goes_on(world, monkeypatch):
    once(monkeypatch)
    out = world.root / "out"
    mine = world.mine(out / "mini-beginner.mp3")
    before = snapshot(world.root)
    result = cli_run("watch", world.script(), "--level", "beginner", "--out", out)
    check(world, before, result, 0, [out], refused(mine, NOT_OURS))


def test_watch_through_a_symlinked_out(world, monkeypatch):
    once(monkeypatch)
    out = world.link(world.root / "out", world.victim)
    before = snapshot(world.root)
    result = cli_run("watch", world.script(), "--level", "beginner", "--out", out)
    check(world, before, result, 0, [], refused(out, ROOT_LINK))


