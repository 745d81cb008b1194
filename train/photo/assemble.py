"""``fashion-photos``: assemble the photo model's real photos from the photo list, every byte checked.

Each photo of :mod:`train.photo.photo_list` goes to ``OUT/<set>/<class folder>/<file>`` (``OUT/train``
for ``../shared/real-photos-train``, ``OUT/eval`` for ``../shared/real-photos``, ``OUT/<source>`` for
every other photo source: the folders ``fashion-train --photos`` and ``fashion-evaluate`` read). A
photo already there with the right sha256 is kept; otherwise it is copied from a local folder
(``--from-dir``) that holds it, else downloaded from its public source at its pinned commit.
Nothing is written before the source file's sha256 matches the list; a listed crop (a garment cut
from a street photo) is then cut from it and written as PNG. Every write is atomic, so a rerun
resumes where an interrupted one stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from edge_runtime.media.atomic_files import write_bytes_atomic
from train.photo.photo_list import PHOTO_LIST, Photo, PhotoListError, read_photo_list

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
MAX_PHOTO_BYTES = 32 * 2**20  # the largest photo is under 1 MB; anything far bigger is not one
PROGRESS_SECONDS = 10.0  # between progress lines; a quick run prints none
GIVE_UP_AFTER = 3  # consecutive photos that cannot reach the server: the rest are not tried


class PhotoError(Exception):
    """One photo could not be assembled; the message is its one-line reason."""


class Unreachable(PhotoError):
    """The download server could not be reached (no network, refused, timed out, 5xx)."""


class NotTried(PhotoError):
    """Not downloaded: the server had already proved unreachable, or the run was interrupted."""


def sha256_of(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    """The sha256 of a regular file, or None when there is none (or it cannot be read)."""
    try:
        return sha256_of(path.read_bytes()) if path.is_file() else None
    except OSError:
        return None


def in_place(photo: Photo, target: Path) -> bool:
    """Whether ``target`` already holds the photo: its bytes, or for a crop a PNG of the crop's
    size (the source's sha256 was checked when it was cut)."""
    if photo.crop is None:
        return file_sha256(target) == photo.sha256
    from edge_runtime.media.headers import header_size

    try:
        return target.is_file() and header_size(target.read_bytes()) == photo.crop[2:]
    except OSError:
        return False


def cut(photo: Photo, data: bytes) -> bytes:
    """The photo's bytes as its set holds them: the file itself, or its crop as PNG."""
    if photo.crop is None:
        return data
    from edge_runtime.media.image_io import ImageDecodeError, decode_image, encode_png

    try:
        pixels = decode_image(data, photo.source_path).pixels
    except ImageDecodeError as exc:
        raise PhotoError(str(exc)) from None
    x, y, width, height = photo.crop
    if x + width > pixels.shape[1] or y + height > pixels.shape[0]:
        raise PhotoError(f"{photo.source_path}: crop {width}x{height}+{x}+{y} reaches outside "
                         f"the {pixels.shape[1]}x{pixels.shape[0]} photo")
    return encode_png(pixels[y : y + height, x : x + width])


class LocalCopies:
    """Photos in local folders: by the photo's path first, then by a sha256 index of the folders.

    A folder may be a photo folder (``../shared/real-photos``), an assembled folder (its
    ``<set>/`` subfolders) or a checkout of a source repository (``images/...``). The index
    hashes every file of the folders once, and only if some photo is not found by path.
    """

    def __init__(self, folders: Iterable[Path], report: Callable[[str], None]):
        self.folders = [Path(f) for f in folders]
        self._report = report
        self._index: dict[str, Path] | None = None
        self._lock = threading.Lock()

    def find(self, photo: Photo) -> bytes | None:
        """The photo's bytes from a local copy with the listed sha256, or None."""
        for folder in self.folders:
            for relative in (photo.path, photo.destination, photo.source_path):
                data = self._read_if(folder / relative, photo.sha256)
                if data is not None:
                    return data
        path = self._sha256_index().get(photo.sha256)
        return None if path is None else self._read_if(path, photo.sha256)

    @staticmethod
    def _read_if(path: Path, sha256: str) -> bytes | None:
        try:
            if not path.is_file() or path.stat().st_size > MAX_PHOTO_BYTES:
                return None
            data = path.read_bytes()
        except OSError:
            return None
        return data if sha256_of(data) == sha256 else None

    def _sha256_index(self) -> dict[str, Path]:
        with self._lock:  # built once, by the first photo that needs it
            if self._index is None:
                self._index = {}
                for folder in self.folders:
                    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
                    self._report(f"fashion-photos: indexing {folder} by sha256 ({len(files)} files)")
                    for path in files:
                        digest = file_sha256(path) if path.stat().st_size <= MAX_PHOTO_BYTES else None
                        if digest is not None:
                            self._index.setdefault(digest, path)
            return self._index


class Downloader:
    """Downloads with a timeout and retries; gives up on the server once it proves unreachable.

    After :data:`GIVE_UP_AFTER` photos in a row fail to reach the server, the remaining ones fail
    at once with that reason instead of each waiting out its own timeouts.
    """

    def __init__(self, base_url: str, timeout: float, retries: int, backoff: float = 0.25):
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.unreachable: str | None = None  # the reason, once given up
        self._failures_in_a_row = 0
        self._lock = threading.Lock()

    def fetch(self, photo: Photo, stop: threading.Event) -> bytes:
        """The photo's bytes, checked against its sha256; raises PhotoError with the reason."""
        if self.unreachable:
            raise NotTried(f"not tried: {self.unreachable}")
        url = photo.url(self.base_url)
        for attempt in range(self.retries + 1):
            try:
                data = self._get(url)
                break
            except Unreachable as exc:
                if attempt == self.retries or stop.is_set():
                    self._count_unreachable(str(exc))
                    raise
                time.sleep(self.backoff * 2**attempt)
        with self._lock:
            self._failures_in_a_row = 0
        if len(data) > MAX_PHOTO_BYTES:
            raise PhotoError(f"{url}: more than {MAX_PHOTO_BYTES} bytes, not a photo")
        digest = sha256_of(data)
        if digest != photo.sha256:
            raise PhotoError(f"{url}: sha256 {digest}, expected {photo.sha256} ({len(data)} "
                             "bytes); not kept")
        return data

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "fashion-edge-photos"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(MAX_PHOTO_BYTES + 1)
        except urllib.error.HTTPError as exc:
            message = f"{url}: HTTP {exc.code} {exc.reason}"
            if exc.code in (408, 429) or exc.code >= 500:  # the server may recover
                raise Unreachable(message) from None
            raise PhotoError(message) from None  # 404 and the like: retrying cannot help
        except urllib.error.URLError as exc:
            raise Unreachable(f"{url}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, short bodies
            raise Unreachable(f"{url}: {type(exc).__name__}: {exc}") from None

    def _count_unreachable(self, reason: str) -> None:
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= GIVE_UP_AFTER and not self.unreachable:
                self.unreachable = f"{self.base_url} unreachable ({reason})"


@dataclass
class Summary:
    """What an assembly did, photo by photo counted."""

    present: int = 0
    copied: int = 0
    downloaded: int = 0
    failed: list[str] = field(default_factory=list)  # "<set>/<path>: reason", one per photo
    not_tried: int = 0  # of the failed: left once the server proved unreachable
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every photo asked for is in place."""
        return not self.failed

    def line(self) -> str:
        """The one-line summary: how many photos were present, copied, downloaded, failed."""
        total = self.present + self.copied + self.downloaded + len(self.failed)
        return (f"{total} photos: {self.present} present, {self.copied} copied, "
                f"{self.downloaded} downloaded, {len(self.failed)} failed ({self.seconds:.1f} s)")


def _assemble_one(photo: Photo, out: Path, local: LocalCopies, downloader: Downloader | None,
                  stop: threading.Event) -> str:
    """Put one photo in place; returns "present", "copied" or "downloaded", or raises PhotoError."""
    target = out / photo.destination
    if in_place(photo, target):
        return "present"
    data = local.find(photo)
    how = "copied"
    if data is None:
        if downloader is None:
            raise PhotoError("not in any --from-dir, and downloads are off (--no-download)")
        if stop.is_set():
            raise NotTried("not tried: interrupted")
        data, how = downloader.fetch(photo, stop), "downloaded"
    try:
        write_bytes_atomic(target, cut(photo, data))
    except OSError as exc:
        raise PhotoError(f"cannot write {target}: {exc}") from None
    return how


def assemble(photos: list[Photo], out: Path, from_dirs: Iterable[Path] = (),
             base_url: str | None = DEFAULT_BASE_URL, workers: int = 4, timeout: float = 20.0,
             retries: int = 2, report: Callable[[str], None] = print) -> Summary:
    """Put every photo in ``out/<set>/<path>``: kept if there, else copied, else downloaded.

    ``base_url`` None downloads nothing. Each failure is reported as one line as it happens and
    the rest go on; photos left untried once the server proved unreachable get one line together.
    On KeyboardInterrupt no new photo starts, the ones under way finish (writes are atomic) and the
    interrupt is raised again.
    """
    started = time.perf_counter()
    out = Path(out)
    local = LocalCopies(from_dirs, report)
    downloader = None if base_url is None else Downloader(base_url, timeout, retries)
    stop = threading.Event()
    summary = Summary()
    last_progress = started
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = {pool.submit(_assemble_one, p, out, local, downloader, stop): p for p in photos}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    photo = pending.pop(future)
                    try:
                        how = future.result()
                    except NotTried as exc:  # one line for all of them, below
                        summary.failed.append(f"{photo.destination}: {exc}")
                        summary.not_tried += 1
                    except PhotoError as exc:
                        summary.failed.append(f"{photo.destination}: {exc}")
                        report(f"fashion-photos: {summary.failed[-1]}")
                    else:
                        setattr(summary, how, getattr(summary, how) + 1)
                    if time.perf_counter() - last_progress >= PROGRESS_SECONDS and pending:
                        last_progress = time.perf_counter()
                        report(f"fashion-photos: {len(photos) - len(pending)}/{len(photos)} "
                               "photos done")
        except KeyboardInterrupt:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    if summary.not_tried:
        report(f"fashion-photos: {summary.not_tried} more photos not tried: "
               f"{downloader.unreachable}")
    summary.seconds = time.perf_counter() - started
    return summary


def select(photos: list[Photo], which: str) -> list[Photo]:
    """The photos of one set ("train", "eval", "hm", ...), of one source ("clothing-dataset":
    train and eval), or all of them ("all"). PhotoListError when none is that set or source."""
    chosen = [p for p in photos if which in ("all", p.set, p.source)]
    if not chosen:
        names = sorted({p.set for p in photos} | {p.source for p in photos})
        raise PhotoListError(f"--set {which}: no such set or source; the list has "
                             f"{', '.join(names)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fashion-photos``."""
    parser = argparse.ArgumentParser(
        prog="fashion-photos",
        description="Assemble the photo model's real photos into OUT/<set>/<class>/ from the "
        "photo list (train, eval: the clothing-dataset photos; one set per other photo source): "
        "each photo is kept if already there, copied from a --from-dir that holds it, or "
        "downloaded from its public source at the pinned commit; every file's sha256 is checked "
        "before it is written (or cut, for a listed crop). Exit status: 0 all photos in place, "
        "1 some missing (each named on stderr), 2 usage or photo-list error, 130 interrupted.")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where to assemble: DIR/train/<class>/..., DIR/eval/<class>/..., "
                        "DIR/<source>/<class>/...")
    parser.add_argument("--set", default="all", metavar="NAME",
                        help="one set (train: ../shared/real-photos-train's photos; eval: "
                        "../shared/real-photos's; or another source's set, e.g. hm) or one "
                        "source (clothing-dataset: train and eval); default: %(default)s")
    parser.add_argument("--from-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="a local copy to take photos from (a photo folder, an assembled "
                        "folder or a source checkout); repeatable; searched before downloading")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, metavar="URL",
                        help="download from URL/{repo}/{commit}/{path} (default: %(default)s)")
    parser.add_argument("--no-download", action="store_true",
                        help="only keep and copy; a photo not found locally is a failure")
    parser.add_argument("--workers", type=int, default=4, metavar="N",
                        help="photos handled at once (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S",
                        help="seconds to wait for the server, per attempt (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="further attempts after a network error or HTTP 429/5xx "
                        "(default: %(default)s)")
    parser.add_argument("--list", type=Path, default=PHOTO_LIST, metavar="CSV",
                        help="the photo list (default: the one in the repository)")
    return parser


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run ``fashion-photos``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1 or args.retries < 0 or args.timeout <= 0:
        parser.error("--workers must be >= 1, --retries >= 0 and --timeout > 0")
    missing = [str(d) for d in args.from_dir if not d.is_dir()]
    if missing:
        parser.error(f"--from-dir {', '.join(missing)}: not a directory")
    try:
        photos = select(read_photo_list(args.list), args.set)
    except PhotoListError as exc:
        print(f"fashion-photos: error: {exc}", file=sys.stderr)
        return 2
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # `kill` ends as cleanly as Ctrl-C
        previous = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        summary = assemble(photos, args.out, args.from_dir,
                           None if args.no_download else args.base_url, args.workers,
                           args.timeout, args.retries,
                           report=lambda line: print(line, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        print("fashion-photos: interrupted; finished photos are kept, rerun to resume",
              file=sys.stderr)
        return 130
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(f"fashion-photos: {args.out}: {summary.line()}")
    return 0 if summary.complete else 1


if __name__ == "__main__":
    sys.exit(main())
