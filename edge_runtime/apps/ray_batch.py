"""Catalogue scale on Ray Data: classify image files on a pool of actors, one classifier each,
and write ``fashion-classify``'s records as part files (:mod:`edge_runtime.apps.record_parts`).

The pipeline is Ray Data's batch-inference pattern: a dataset of file paths and ``map_batches``
with a callable class that holds the model (:class:`ClassifyFiles`), on an actor pool. Each
record comes from :func:`edge_runtime.apps.batch.file_record`, the code ``fashion-classify``
runs, so the records are the same. Paths are listed on the driver with ``fashion-classify``'s
own expansion (local paths) or pyarrow (URIs such as ``s3://``); the actors read the files, so
a file that cannot be read or decoded is an error record, never a failed job; a file that is not
an image (by its content, as ``fashion-classify`` judges it) is counted, and recorded only with
``all_files``. Each actor writes each batch's records as one part file, atomically, so a part
exists only for a finished batch.

Resume: a run skips every path already recorded in the output directory, so re-running the
same command after a stop (or after new files arrive) classifies only what has no record yet.

Ray and pyarrow (the ``ray`` extra) are imported where they are used: the device runtime
imports without them.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from edge_runtime import native_messages
from edge_runtime.apps import record_parts
from edge_runtime.apps.batch import decode_side, file_record
from edge_runtime.apps.summary import Tally
from edge_runtime.classifier import Classifier, ClassifierOptions
from edge_runtime.media.formats import HEAD_BYTES, sniff
from edge_runtime.media.inputs import expand_inputs

# The local cluster's object store only carries paths and small summaries, never image bytes.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
# URIs are read this many at a time per actor, by this many threads.
READ_AHEAD, READ_THREADS = 32, 16


def list_uri(uri: str) -> list[tuple[str, str | None]]:
    """``(path, error)`` for a URI: a directory (every file under it, recursively: the actors
    tell images by their content), a file, or a glob pattern (where ``*`` and ``?`` also match
    ``/``). A URI that yields no file is one item with an error, as ``fashion-classify`` reports
    such a PATH."""
    import pyarrow.fs as pafs

    magic = glob.has_magic(uri)
    # A pattern is matched against everything under the directory before its first wildcard.
    base = uri[: min(uri.find(c) for c in "*?[" if c in uri)].rsplit("/", 1)[0] if magic else uri
    try:
        filesystem, root = pafs.FileSystem.from_uri(base)
        kind = filesystem.get_file_info(root).type
        if kind == pafs.FileType.File and not magic:
            return [(uri, None)]
        if kind != pafs.FileType.Directory:
            return [(uri, f"{uri}: {'no file matches' if magic else 'no such file or directory'}")]
        found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except (OSError, ValueError) as exc:
        return [(uri, f"{uri}: cannot list ({' '.join(str(exc).split())})")]
    # pyarrow's paths lack the URI's head: s3://bucket/key lists as bucket/key, file:///a as /a.
    head = base[: base.find(root)] if root and root in base else base.split("://")[0] + "://"
    files = sorted(head + info.path for info in found if info.is_file)
    if magic:
        files = [f for f in files if fnmatch.fnmatchcase(f, uri)]
    if not files:
        return [(uri, f"{uri}: {'no file matches' if magic else 'directory holds no files'}")]
    return [(f, None) for f in files]


def list_sources(sources: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """``(path, error, skipped)`` for every file to classify, in order: local PATHs expanded
    exactly as ``fashion-classify`` expands them (files, directories searched recursively,
    globs), URIs by :func:`list_uri`; ``error`` is set for a source that yields no file,
    ``skipped`` for a pipe, socket or device found in a directory."""
    listed: list[tuple[str, str | None, str | None]] = []
    for source in sources:
        if record_parts.is_uri(source):
            listed += [(path, error, None) for path, error in list_uri(source)]
        else:
            listed += [(str(item.path), item.error, item.skipped)
                       for item in expand_inputs([source])]
    return listed


class ClassifyFiles:
    """The ``map_batches`` callable: one :class:`Classifier` per actor, made once from
    picklable options. A batch of ``path``, ``error`` and ``skipped`` rows (why the listing
    yielded no file, or found one not to read; else empty) is classified and its records
    (those of files that are not images too with ``all_files``) written to ``location`` as one
    part file of ``fmt`` (:mod:`~edge_runtime.apps.record_parts`) named by run and batch; the
    batch becomes one row: ``part``, ``records`` (written), ``classified``, ``errors`` (error
    records) and ``skipped`` (files that are not images, by suffix, as a JSON object).
    ``verbose``: let the decoders' messages through (:mod:`edge_runtime.native_messages`)."""

    def __init__(self, options: ClassifierOptions, location: str, fmt: str, run_id: str,
                 cwd: str | None = None, all_files: bool = False, verbose: bool = False) -> None:
        if fmt not in record_parts.FORMATS:
            raise ValueError(f"format {fmt!r}, expected one of {record_parts.FORMATS}")
        native_messages.set_verbose(verbose)
        self.all_files = all_files
        # Relative paths are the driver's: read them from its directory where it exists here.
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)
        self.classifier = Classifier.from_options(options)
        self.min_side = decode_side(self.classifier)
        self.format, self.run_id = fmt, run_id
        self.filesystem, self.directory = record_parts.open_directory(location)
        self.filesystem.create_dir(self.directory, recursive=True)
        self._sources: dict[str, tuple] = {}
        self._readers: ThreadPoolExecutor | None = None

    def __call__(self, batch) -> dict:
        paths = batch.column("path").to_pylist()
        records = list(self._records(paths, batch.column("error").to_pylist(),
                                     batch.column("skipped").to_pylist()))
        tally = Tally()
        for record in records:
            tally.add(record)
        if not self.all_files:
            records = [r for r in records if "skipped" not in r]
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        # Named by its paths: a batch that Ray runs again (a lost actor) replaces its own part.
        key = hashlib.sha1("\n".join(paths).encode("utf-8")).hexdigest()[:16]
        name = record_parts.part_name(self.run_id, key, self.format)
        record_parts.write_part(self.filesystem, self.directory, name,
                                record_parts.encode_part(lines, self.format))
        return {"part": [name], "records": [len(records)], "classified": [tally.classified],
                "errors": [tally.unreadable], "skipped": [json.dumps(tally.skipped)]}

    def _records(self, paths: list[str], errors: list[str], skips: list[str]) -> Iterator[dict]:
        # Object storage answers each read in tens of milliseconds: read URIs a few at a time,
        # concurrently, holding at most READ_AHEAD files' bytes.
        for start in range(0, len(paths), READ_AHEAD):
            window = list(zip(paths[start:start + READ_AHEAD], errors[start:start + READ_AHEAD],
                              skips[start:start + READ_AHEAD]))
            uris = [path for path, error, skipped in window
                    if not (error or skipped) and record_parts.is_uri(path)]
            if uris and self._readers is None:
                self._readers = ThreadPoolExecutor(READ_THREADS)
            fetched = dict(zip(uris, self._readers.map(self._read_uri, uris))) if uris else {}
            yield from (self.record(path, error, skipped, fetched.get(path))
                        for path, error, skipped in window)

    def record(self, path: str, error: str | None = None, skipped: str | None = None,
               data: bytes | Exception | None = None) -> dict:
        """The record of one listed file, as :func:`~edge_runtime.apps.batch.classify_files`
        makes it; a URI's ``data`` (its bytes, or why they could not be read) is read here
        when not given."""
        if error:
            return {"path": path, "error": error}
        if skipped:
            return {"path": path, "skipped": skipped}
        if not record_parts.is_uri(path):
            return file_record(self.classifier, path, self.min_side)
        data = self._read_uri(path) if data is None else data
        if isinstance(data, Exception):
            return {"path": path, "error": f"{path}: cannot read ({' '.join(str(data).split())})"}
        return file_record(self.classifier, path, self.min_side, data)

    def _read_uri(self, uri: str) -> bytes | Exception:
        import pyarrow.fs as pafs

        # One filesystem per scheme and bucket (or host) and actor: an S3 client per file is
        # slow. pyarrow's filesystems are safe to share between the reading threads (two of them
        # may both make the first one: harmless).
        scheme, _, authority, *rest = uri.split("/", 3)
        key = f"{scheme}//{authority}"
        try:
            if key not in self._sources:
                self._sources[key] = pafs.FileSystem.from_uri(key + "/")
            filesystem, root = self._sources[key]
            with filesystem.open_input_stream(root.rstrip("/") + "/" + "".join(rest)) as stream:
                head = stream.read(HEAD_BYTES)  # of anything but an image, no more is read
                return head + stream.read() if sniff(head) else head
        except (OSError, ValueError) as exc:
            return exc


@dataclass(frozen=True)
class CatalogRun:
    """What one run did: files listed, already recorded (skipped), done now (``tally``: how
    many classified, unreadable and not images), part files written, workers, and seconds from
    start to the last part."""

    listed: int
    skipped: int
    tally: Tally = field(default_factory=Tally)
    parts: int = 0
    workers: int = 0
    seconds: float = 0.0

    @property
    def done(self) -> int:
        """Files of this run: classified, unreadable or not images."""
        return self.tally.files

    @property
    def classified(self) -> int:
        """Files classified by this run."""
        return self.tally.classified

    @property
    def files_per_second(self) -> float:
        """Files done per second of the whole run."""
        return self.done / self.seconds if self.seconds > 0 else 0.0


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at ``address`` (or ``RAY_ADDRESS``), or start a local one with
    ``num_cpus`` (default: this machine's) and a small object store; nothing when Ray is already
    initialised. True when this call started or connected (the caller then shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        # "local": a new cluster for this run, even where one started by `ray start` runs.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 logging_level=logging.WARNING, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    return True


def classify_catalog(sources: Sequence[str], location: str, options: ClassifierOptions, *,
                     workers: int | None = None, batch_size: int = 1000, fmt: str = "jsonl",
                     all_files: bool = False, verbose: bool = False,
                     actor: type[ClassifyFiles] = ClassifyFiles) -> CatalogRun:
    """Classify every image file under ``sources`` on the running Ray cluster (see
    :func:`start_ray`) with ``workers`` actors (default: one per CPU of the cluster) and
    write the records that ``location`` does not hold yet as ``fmt`` part files there, one
    per batch of ``batch_size`` files; files that are not images are counted, and recorded
    only with ``all_files``. ``verbose``: see :class:`ClassifyFiles`.

    ``actor`` is the callable class the actors run (a subclass may observe the batches: the
    benchmark times them). ValueError for a bad argument or an output directory of the other
    format.
    """
    import ray
    from ray.data import ActorPoolStrategy

    if batch_size < 1 or (workers is not None and workers < 1):
        raise ValueError(f"batch_size {batch_size} and workers {workers}: both must be >= 1")
    if fmt not in record_parts.FORMATS:
        raise ValueError(f"format {fmt!r}, expected one of {record_parts.FORMATS}")
    started = time.perf_counter()
    done = record_parts.recorded_paths(*record_parts.open_directory(location), fmt)
    listed = list_sources(sources)
    todo = [(path, error, skipped) for path, error, skipped in listed if path not in done]
    summaries: list[dict] = []
    if todo:
        # One block per batch, so that every actor has blocks to take from the start, and no
        # more actors than batches.
        blocks = -(-len(todo) // batch_size)
        workers = min(blocks, workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
        rows = [{"path": path, "error": error or "", "skipped": skipped or ""}  # always strings
                for path, error, skipped in todo]
        output = location if record_parts.is_uri(location) else os.path.abspath(location)
        if options.num_threads is None:  # each actor holds one CPU (num_cpus=1)
            options = replace(options, num_threads=1)
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            actor, batch_size=batch_size, batch_format="pyarrow",
            compute=ActorPoolStrategy(size=workers), num_cpus=1,
            fn_constructor_kwargs={"options": options, "location": output, "fmt": fmt,
                                   "run_id": record_parts.new_run_id(), "cwd": os.getcwd(),
                                   "all_files": all_files, "verbose": verbose})
        summaries = list(dataset.iter_rows())
    tally = Tally()
    for summary in summaries:
        tally.update(Tally(summary["classified"], summary["errors"],
                           Counter(json.loads(summary["skipped"]))))
    return CatalogRun(listed=len(listed), skipped=len(listed) - len(todo), tally=tally,
                      parts=len(summaries), workers=workers or 0,
                      seconds=time.perf_counter() - started)
